package app.rapport.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/** S3, S4: subscriptions end and free everything; deadline events arrive. */
class LiveTest {
    @Test
    fun s3_subscribing_and_cancelling_many_times_leaks_nothing() {
        TestServer(File(tempDir("rapport-server"), "s.db"), chats = 50, messages = 300).use { server ->
            loggedInClient(server).use { client ->
                val chat = client.chatPage(chatFilter(), null, 1u).rows.first().chat.id
                val noList = object : ChatListListener { override fun onDiffs(diffs: List<ChatListDiff>) {} }
                val noTimeline = object : TimelineListener { override fun onDiffs(diffs: List<TimelineDiff>) {} }
                val noop = object : CountsListener, SyncStateListener, TimerListener {
                    override fun onCounts(counts: StatusCounts) {}
                    override fun onState(state: SyncState) {}
                    override fun onTimer(event: TimerEvent) {}
                }
                val before = client.liveSubscriptions()
                repeat(3) {
                    val handles = (0 until 250).map { i ->
                        when (i % 5) {
                            0 -> client.subscribeChatList(chatFilter(), 20u, noList)
                            1 -> client.subscribeTimeline(chat, 20u, noTimeline)
                            2 -> client.subscribeCounts(chatFilter(), noop)
                            3 -> client.subscribeSyncState(noop)
                            else -> client.subscribeTimers(noop)
                        }
                    }
                    assertEquals(before + 250u, client.liveSubscriptions())
                    // Half cancelled then closed, half only closed: both end them.
                    handles.forEachIndexed { i, h -> if (i % 2 == 0) h.cancel(); h.close() }
                    assertTrue(handles.all { it.uniffiIsDestroyed })
                    assertEquals(before, client.liveSubscriptions())
                }
                // Flows: collecting subscribes, cancelling the collector ends it.
                runBlocking {
                    repeat(100) { i ->
                        val job = launch(Dispatchers.Default) {
                            when (i % 4) {
                                0 -> client.chatList(chatFilter(), 20u).collect()
                                1 -> client.timeline(chat, 20u).collect()
                                2 -> client.counts(chatFilter()).collect()
                                else -> client.syncStates().collect()
                            }
                        }
                        eventually(message = "flow $i subscribed") { client.liveSubscriptions() == before + 1u }
                        job.cancelAndJoin()
                        eventually(message = "flow $i ended") { client.liveSubscriptions() == before }
                    }
                }
                assertEquals(0u, before, "nothing else was subscribed")
            }
        }
    }

    @Test
    fun s4_e4_e5_a_support_window_closing_fires_a_timer_event_then_replies_are_refused() {
        val db = File(tempDir("rapport-server"), "s.db")
        // 1. A workspace, and the WhatsApp support window that closes last in it.
        val (chat, closesAt) = TestServer(db, chats = 50, messages = 300).use { server ->
            loggedInClient(server).use { client ->
                client.chatPage(chatFilter(app = MessagingApp.WHATSAPP), null, 100u).rows.mapNotNull { row ->
                    (client.countdowns(row.chat.id).window as? WindowState.Open)?.let { row.chat.id to it.closesAt }
                }.maxBy { it.second }
            }
        }
        // 2. The same workspace with the server's clock 8 s before that moment (login and
        // sync take well under that; a deadline already past when armed never fires).
        val offset = closesAt - System.currentTimeMillis() - 8_000
        TestServer(db, chats = 50, messages = 300, clockOffsetMs = offset).use { server ->
            loggedInClient(server).use { client ->
                assertTrue(client.serverNow() > closesAt - 60_000, "the client runs on server time")
                val event = runBlocking {
                    client.timerEvents().awaitFirst(30_000) { it.key == DeadlineKey.WindowCloses(chat) }
                }
                assertEquals(closesAt, event.at)
                assertTrue(client.serverNow() >= closesAt)
                assertTrue(client.countdowns(chat).window is WindowState.Closed)
                // E4/E5: now free text is refused and a template offered.
                val d = client.decide(chat, Outgoing.Text("hello")) as Decision.Refused
                assertEquals(Refusal.WindowClosed(closesAt), d.reason)
                assertEquals(listOf<Alternative>(Alternative.WhatsappTemplate), d.instead)
                val e = assertFailsWith<RapportException.Refused> { client.sendText(chat, "hello") }
                assertEquals("window_closed", e.code)
            }
        }
    }
}
