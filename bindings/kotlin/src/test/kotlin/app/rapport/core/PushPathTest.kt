package app.rapport.core

import java.io.File
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * H2/H3 on a phone, both paths: the notification process (a second store
 * handle, `NotificationClient`) whose queued replies the running app picks
 * up with no restart, its suspend reply cancelled mid-flight; and the app's
 * own process (Android's FCM service) answering through `RapportClient`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PushPathTest {
    private lateinit var server: TestServer
    private lateinit var dir: File
    private lateinit var secrets: MapSecrets
    private lateinit var client: RapportClient
    private val store get() = File(dir, "store.db").path

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"), chats = 60, messages = 600)
        dir = tempDir("rapport-push-path")
        secrets = MapSecrets()
        client = RapportClient(store, server.url, secrets)
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

    /** The n-th Telegram chat (no support window closes during a test); each test its own. */
    private fun telegramChat(n: Int): ChatSummary =
        client.chatPage(chatFilter(app = MessagingApp.TELEGRAM), null, 10u).rows[n]

    /** What FCM would hand the app for a new message in [chat]. */
    private fun push(chat: ChatSummary, seq: Long): String {
        val inner = """{"v":1,"kind":"new_message","workspace_id":"demo","chat_id":"${chat.chat.id}",""" +
            """"message_id":"m$seq","seq":$seq,"sent_at":${client.serverNow()},"title":"Ana","preview":"Hola"}"""
        val escaped = inner.replace("\\", "\\\\").replace("\"", "\\\"")
        return """{"rapport":"$escaped"}"""
    }

    /** Sent (not pending) copies of [text] in the app's timeline of [chat]. */
    private fun sentCopies(chat: ChatSummary, text: String): Int =
        client.timelinePage(chat.chat.id, null, 50u).items.count {
            it is TimelineItem.Message && it.v1.delivery != Delivery.PENDING &&
                (it.v1.content as? Content.Text)?.text == text
        }

    private fun arrivesOnce(chat: ChatSummary, text: String) {
        eventually(20_000, "\"$text\" sent once by the running app") {
            sentCopies(chat, text) == 1 && client.outbox().isEmpty()
        }
        assertEquals(1, sentCopies(chat, text))
    }

    /** A notification process on the app's store whose server is [url] (the app's session). */
    private fun notificationClient(url: String): NotificationClient =
        NotificationClient(store, url, Rewritten(secrets, server.url, url))

    @Test
    fun h3_suspend_reply_from_a_coroutine_and_one_cancelled_mid_flight_arrives_once() {
        val chat = telegramChat(0)
        notificationClient(server.url).use { nc ->
            val out = runBlocking { nc.replyAsync(push(chat, 4_000_001), "suspend reply", "kt-async-1") }
            assertTrue(out.delivered)
            assertEquals("m-kt-async-1", out.messageId)
        }
        arrivesOnce(chat, "suspend reply")
        // A server that takes the request and never answers: the reply is on
        // the wire when the coroutine is cancelled (on IO: `eventually`
        // blocks runBlocking's own thread).
        Blackhole().use { hole ->
            notificationClient(hole.url).use { nc ->
                runBlocking {
                    val job = launch(Dispatchers.IO) { nc.replyAsync(push(chat, 4_000_002), "cancelled reply", "kt-async-2") }
                    eventually(10_000, "the request in flight") { hole.accepted.get() >= 1 }
                    job.cancel()
                    job.join()
                }
            }
            // The running app (never restarted) sends it, once. (Until then the
            // next reply would wait behind it without a network call.)
            arrivesOnce(chat, "cancelled reply")
            // Swift's path: an explicit cancel answers at once, still queued.
            notificationClient(hole.url).use { nc ->
                val outcome = runBlocking {
                    val reply = async(Dispatchers.IO) { nc.replyAsync(push(chat, 4_000_003), "explicitly cancelled", "kt-async-3") }
                    eventually(10_000, "the second request in flight") { hole.accepted.get() >= 2 }
                    nc.cancel()
                    reply.await()
                }
                assertFalse(outcome.delivered)
            }
        }
        arrivesOnce(chat, "explicitly cancelled")
    }

    @Test
    fun h3_a_reply_queued_offline_by_the_notification_process_goes_out_without_a_restart() {
        val chat = telegramChat(1)
        val refused = ServerSocket(0).use { "http://127.0.0.1:${it.localPort}" }
        notificationClient(refused).use { nc ->
            val out = nc.reply(push(chat, 5_000_001), "queued offline", "kt-offline-1")
            assertFalse(out.delivered, "the notification process could not reach the server")
        }
        client.appResumed()
        arrivesOnce(chat, "queued offline")
    }

    @Test
    fun h3_mark_read_from_the_notification_process_reads_the_chat_in_the_running_app() {
        val chat = client.chatPage(chatFilter(status = StatusFilter.UNREAD), null, 10u).rows.first()
        assertTrue(chat.chat.unreadCount > 0u)
        notificationClient(server.url).use { nc ->
            assertTrue(runBlocking { nc.markReadAsync(push(chat, 7_000_001), "kt-read-1") }, "delivered")
            assertFailsWith<RapportException.InvalidArgument> { nc.markRead("{}", "kt-read-2") }
        }
        eventually(20_000, "the app's feed reads the chat") {
            client.chat(chat.chat.id)?.chat?.unreadCount == 0u
        }
    }

    @Test
    fun h2_h3_in_the_apps_process_show_push_and_reply_push_go_through_the_running_client() {
        val chat = telegramChat(2)
        val p = push(chat, 6_000_001)
        assertIs<PushDecision.Show>(client.showPush(p, null))
        assertEquals(Suppressed.ALREADY_SHOWN, assertIs<PushDecision.Suppress>(client.showPush(p, null)).reason)
        val viewing = client.showPush(push(chat, 6_000_002), chat.chat.id)
        assertEquals(Suppressed.VIEWING, assertIs<PushDecision.Suppress>(viewing).reason)
        // Syncing: queued for the running outbox, which sends it.
        val warm = runBlocking { client.replyPush(p, "warm reply", "kt-warm-1") }
        assertFalse(warm.delivered)
        assertEquals("m-kt-warm-1", warm.messageId)
        arrivesOnce(chat, "warm reply")
        // Not syncing (in the background): sent at once.
        client.stopSync()
        try {
            val cold = runBlocking { client.replyPush(p, "background reply", "kt-warm-2") }
            assertTrue(cold.delivered)
        } finally {
            client.startSync()
        }
        arrivesOnce(chat, "background reply")
        assertFailsWith<RapportException.InvalidArgument> { runBlocking { client.replyPush("not json", "x", "kt-warm-3") } }
        assertFailsWith<RapportException.InvalidArgument> { client.showPush("{}", null) }
    }
}

/** The app's secure storage, in memory. */
class MapSecrets : SecretStore {
    private val map = ConcurrentHashMap<String, String>()
    override fun load(key: String): String? = map[key]
    override fun save(key: String, value: String) { map[key] = value }
    override fun delete(key: String) { map.remove(key) }
}

/** The app's saved session, as if it were saved for [to] instead of [from]. */
private class Rewritten(val inner: SecretStore, val from: String, val to: String) : SecretStore {
    override fun load(key: String): String? = inner.load(key)?.replace(from, to)
    override fun save(key: String, value: String) = inner.save(key, value.replace(to, from))
    override fun delete(key: String) = inner.delete(key)
}

/** Accepts connections and never answers. */
private class Blackhole : AutoCloseable {
    private val socket = ServerSocket(0)
    private val held = CopyOnWriteArrayList<Socket>()
    val url = "http://127.0.0.1:${socket.localPort}"
    val accepted = AtomicInteger()

    init {
        Thread {
            try {
                while (true) {
                    held += socket.accept()
                    accepted.incrementAndGet()
                }
            } catch (_: Exception) {
            }
        }.apply { isDaemon = true }.start()
    }

    override fun close() {
        socket.close()
        held.forEach { it.close() }
    }
}
