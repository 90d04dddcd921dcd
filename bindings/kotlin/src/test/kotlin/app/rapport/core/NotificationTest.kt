package app.rapport.core

import java.io.File
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * H2/H3 and E2 through the bindings: the notification decisions, a reply
 * from a fresh JVM process on the app's store, and an attachment with its
 * upload progress.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NotificationTest {
    private lateinit var server: TestServer
    private lateinit var dir: File
    private lateinit var client: RapportClient

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"), chats = 60, messages = 600)
        dir = tempDir("rapport-app")
        client = RapportClient(File(dir, "store.db").path, server.url, FileSecretStore(File(dir, "secrets")))
        runBlocking {
            client.login(TestServer.EMAIL, TestServer.PASSWORD)
            client.startSync()
            client.syncStates().awaitFirst(30_000) { it is SyncState.Live }
        }
    }

    @AfterAll
    fun stop() {
        client.close()
        server.close()
    }

    /** A Telegram chat: no support window to close during the test. */
    private fun telegramChat(): ChatSummary =
        client.chatPage(chatFilter(app = MessagingApp.TELEGRAM), null, 1u).rows.first()

    /** What FCM would hand the app for a new message in [chat]. */
    private fun push(chat: ChatSummary, seq: Long): String {
        val inner = """{"v":1,"kind":"new_message","workspace_id":"demo","chat_id":"${chat.chat.id}",""" +
            """"message_id":"m$seq","seq":$seq,"sent_at":${client.serverNow()},"title":"Ana","preview":"¿Hay envío?"}"""
        val escaped = inner.replace("\\", "\\\\").replace("\"", "\\\"")
        return """{"rapport":"$escaped"}"""
    }

    @Test
    fun h2_one_live_notification_per_chat_batched_and_suppressed_where_it_should() {
        val chat = telegramChat()
        NotificationClient(File(dir, "store.db").path, server.url, FileSecretStore(File(dir, "secrets"))).use { nc ->
            val first = nc.show(push(chat, 1_000_001), null)
            assertIs<PushDecision.Show>(first)
            assertEquals("chat:${chat.chat.id}", first.tag)
            assertEquals("¿Hay envío?", first.body)
            assertTrue(first.alert)
            // The same push again (FCM may deliver twice): nothing new.
            val again = nc.show(push(chat, 1_000_001), null)
            assertEquals(Suppressed.ALREADY_SHOWN, assertIs<PushDecision.Suppress>(again).reason)
            // A burst: the same notification, updated silently.
            val burst = assertIs<PushDecision.Show>(nc.show(push(chat, 1_000_002), null))
            assertEquals(first.tag, burst.tag)
            assertEquals(2u, burst.count)
            assertEquals("2 new messages", burst.body)
            assertEquals(false, burst.alert)
            // The chat on screen: no notification.
            val viewing = nc.show(push(chat, 1_000_003), chat.chat.id)
            assertEquals(Suppressed.VIEWING, assertIs<PushDecision.Suppress>(viewing).reason)
            // Not a Rapport push, or a broken one: a typed error, no crash.
            for (bad in listOf("", "{}", """{"rapport":"{\"v\":1}"}""", """{"rapport":{"v":99}}""")) {
                assertFailsWith<RapportException.InvalidArgument>(bad) { nc.show(bad, null) }
            }
        }
    }

    @Test
    fun h2_a_chat_muted_in_the_app_shows_nothing_until_unmuted() {
        // Not a Telegram chat: each chat keeps its last notification, and
        // the other tests push for the first Telegram one.
        val chat = client.chatPage(chatFilter(), null, 60u).rows.first { it.chat.app != MessagingApp.TELEGRAM }
        val id = chat.chat.id
        assertFalse(client.isMuted(id))
        client.setMuted(id, true)
        assertTrue(client.isMuted(id))
        assertFailsWith<RapportException.UnknownChat> { client.setMuted("no-such-chat", true) }
        NotificationClient(File(dir, "store.db").path, server.url, FileSecretStore(File(dir, "secrets"))).use { nc ->
            val muted = nc.show(push(chat, 3_000_001), null)
            assertEquals(Suppressed.MUTED, assertIs<PushDecision.Suppress>(muted).reason)
            client.setMuted(id, false)
            assertFalse(client.isMuted(id))
            val shown = assertIs<PushDecision.Show>(nc.show(push(chat, 3_000_002), null))
            assertEquals("chat:$id", shown.tag)
            assertTrue(shown.alert)
        }
    }

    @Test
    fun h3_a_reply_from_a_fresh_jvm_process_arrives_once_and_the_app_sees_it() {
        val chat = telegramChat()
        val text = "Replied from the lock screen ${System.nanoTime()}"
        val java = File(System.getProperty("java.home"), "bin/java").path
        val process = ProcessBuilder(
            java, "-cp", System.getProperty("java.class.path"),
            "-Djna.library.path=${System.getProperty("jna.library.path")}",
            "app.rapport.core.NotificationMainKt",
            dir.path, server.url, push(chat, 2_000_001), text, "lock-1",
        ).redirectErrorStream(true).start()
        val out = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS))
        assertEquals(0, process.exitValue(), out)
        assertTrue(out.contains("delivered=true"), out)
        // The app, syncing all along, sees the reply once, sent.
        eventually(20_000, "the reply in the app's timeline") {
            client.timelinePage(chat.chat.id, null, 50u).items.count {
                it is TimelineItem.Message && it.v1.deliveryOrPending() != Delivery.PENDING &&
                    it.v1.text() == text
            } == 1
        }
        assertEquals(0, client.outbox().size)
    }

    @Test
    fun e2_an_attachment_goes_up_with_progress_and_an_executable_is_refused() {
        val chat = telegramChat()
        val png = byteArrayOf(0x89.toByte(), 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A) + ByteArray(700_000) { (it % 251).toByte() }
        runBlocking {
            withTimeout(30_000) {
                val progress = async {
                    client.uploads().takeWhile { it.sentBytes < it.totalBytes }.toList()
                }
                delay(100) // the flow subscribes first
                val id = client.sendAttachment(chat.chat.id, "receipt.png", png, "Your receipt", null)
                val seen = progress.await()
                assertTrue(seen.isNotEmpty() && seen.all { it.messageId == id && it.totalBytes == png.size.toULong() })
                assertEquals(seen.map { it.sentBytes }.sorted(), seen.map { it.sentBytes })
                eventually(20_000, "the file's message sent") {
                    val m = client.timelinePage(chat.chat.id, null, 50u).items
                        .filterIsInstance<TimelineItem.Message>().map { it.v1 }.find { it.id == id }
                    m != null && m.delivery != Delivery.PENDING && m.content is Content.Attachment
                }
            }
        }
        val exe = byteArrayOf(0x4D, 0x5A) + ByteArray(200)
        val e = assertFailsWith<RapportException.Refused> {
            client.sendAttachment(chat.chat.id, "photo.jpg", exe, null, null)
        }
        assertEquals(Refusal.Executable("pe"), e.reason)
    }
}

private fun Message.deliveryOrPending(): Delivery = delivery ?: Delivery.SENT

private fun Message.text(): String? = (content as? Content.Text)?.text
