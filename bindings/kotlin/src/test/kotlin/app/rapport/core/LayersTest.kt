package app.rapport.core

import java.io.ByteArrayInputStream
import java.io.File
import java.io.RandomAccessFile
import kotlin.coroutines.Continuation
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * The hand-written Kotlin layer (Flows.kt) over the real library and the
 * real reference server: list windows that follow a limit as a screen
 * scrolls, the suspend twins of every blocking call, files sent from disk.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LayersTest {
    private lateinit var server: TestServer
    private lateinit var client: RapportClient

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"), chats = 40, messages = 800)
        client = loggedInClient(server)
    }

    @AfterAll
    fun stop() {
        client.close()
        server.close()
    }

    /** A Telegram chat: no support window, 20 MB files. */
    private fun telegramChat(): ChatId =
        client.chatPage(chatFilter(app = MessagingApp.TELEGRAM), null, 1u).rows.first().chat.id

    /** Receives from [values] until a list of [size] arrives. */
    private suspend fun <T> Channel<List<T>>.until(size: Int): List<T> {
        while (true) {
            val list = receive()
            if (list.size == size) return list
        }
    }

    @Test
    fun s3_a_chat_list_window_follows_the_limit_as_the_list_scrolls() = runBlocking {
        withTimeout(30_000) {
            val limit = MutableStateFlow(5u)
            val lists = Channel<List<ChatSummary>>(Channel.UNLIMITED)
            val ids = { n: UInt -> client.chatPage(chatFilter(), null, n).rows.map { it.chat.id } }
            val job = launch { client.chatList(chatFilter(), limit).collect { lists.send(it) } }
            assertEquals(ids(5u), lists.until(5).map { it.chat.id })
            limit.value = 12u // scrolled near the end
            assertEquals(ids(12u), lists.until(12).map { it.chat.id })
            limit.value = 3u // back to the top: the rest may go
            assertEquals(ids(3u), lists.until(3).map { it.chat.id })
            job.cancel()
        }
    }

    @Test
    fun b1_s3_a_timeline_window_grows_to_older_items_as_the_agent_scrolls_up() = runBlocking {
        withTimeout(30_000) {
            val chat = client.chatPage(chatFilter(), null, 40u).rows.map { it.chat.id }
                .first { client.timelinePage(it, null, 50u).items.size >= 8 }
            val limit = MutableStateFlow(2u)
            val lists = Channel<List<TimelineItem>>(Channel.UNLIMITED)
            val job = launch { client.timeline(chat, limit).collect { lists.send(it) } }
            val newest = lists.until(2)
            limit.value = 8u
            val grown = lists.until(8)
            assertEquals(client.timelinePage(chat, null, 8u).items.toSet(), grown.toSet())
            assertEquals(newest, grown.takeLast(2), "older items come in above the newest, oldest first")
            job.cancel()
        }
    }

    @Test
    fun s3_a_subscription_the_core_refuses_fails_the_flow_with_its_error() = runBlocking {
        val dir = tempDir("rapport-other")
        val other = openRapportClient(File(dir, "store.db").path, server.url, MemorySecretStore())
        other.login(TestServer.EMAIL, TestServer.PASSWORD)
        other.logout()
        val e = assertFailsWith<RapportException.Closed> { other.chatList(chatFilter(), 10u).first() }
        assertEquals("closed", e.code)
        assertFailsWith<RapportException.Closed> { other.io.chatPage(chatFilter(), null, 10u) }
        other.close()
    }

    @Test
    fun every_blocking_export_has_a_suspend_twin_under_io() {
        // Kotlin mangles names with unsigned parameters (`chatPage-xyz`);
        // a suspend function takes one more parameter, its Continuation.
        fun base(name: String) = name.substringBefore('-')
        fun twins(io: Class<*>) = io.declaredMethods
            .filter { it.parameterTypes.lastOrNull() == Continuation::class.java }
            .map { base(it.name) to it.parameterCount - 1 }
            .toSet()
        fun blocking(api: Class<*>) = api.declaredMethods
            .filter { it.parameterTypes.lastOrNull() != Continuation::class.java } // already suspend
            .map { base(it.name) to it.parameterCount }
            .filterNot { (name, _) -> name.startsWith("subscribe") } // the Flows
            .filterNot { (name, _) -> name == "liveSubscriptions" } // a counter for tests
            .toSet()
        assertTrue(("sendFile" to 5) in blocking(RapportClientInterface::class.java), "the exports are seen")
        for ((api, io) in listOf(
            RapportClientInterface::class.java to RapportClientIo::class.java,
            NotificationClientInterface::class.java to NotificationClientIo::class.java,
        )) {
            val missing = blocking(api) - twins(io)
            assertTrue(missing.isEmpty(), "${api.simpleName}: no suspend twin in ${io.simpleName} for $missing")
        }
    }

    @Test
    fun e2_a_file_is_sent_from_its_path_and_read_and_checked_in_rust() = runBlocking {
        val chat = telegramChat()
        val dir = tempDir("rapport-files")
        val pdf = File(dir, "invoice.pdf")
        pdf.writeBytes("%PDF-1.4\n".toByteArray() + ByteArray(300_000) { (it % 7).toByte() })
        withTimeout(30_000) {
            val id = client.sendFile(chat, pdf, caption = "Your invoice")
            fun sent() = client.timelinePage(chat, null, 50u).items
                .filterIsInstance<TimelineItem.Message>().map { it.v1 }.first { it.id == id }
            val file = (sent().content as Content.Attachment).v1
            assertEquals("invoice.pdf", file.name)
            assertEquals(pdf.length().toULong(), file.sizeBytes)
            assertEquals("application/pdf", file.mime, "sniffed from the bytes in Rust")
            assertEquals("Your invoice", file.caption)
            eventually(20_000, "the file's message sent") { sent().delivery != Delivery.PENDING }
            // The feed's copy can replace the echo before the command's
            // answer takes it off the outbox: wait for that too.
            eventually(20_000, "the outbox drained") { client.outbox().isEmpty() }
        }
        val queued = client.outbox().size

        // Too large for any app: refused from its size, before it is read
        // (sparse: 20 MB + 1 byte that were never written).
        val big = File(dir, "video.mp4")
        RandomAccessFile(big, "rw").use { it.setLength(20L * 1024 * 1024 + 1) }
        val tooLarge = assertFailsWith<RapportException.Refused> { client.sendFile(chat, big) }
        assertEquals(Refusal.AttachmentTooLarge(20uL * 1024u * 1024u, 20uL * 1024u * 1024u + 1u), tooLarge.reason)
        assertEquals("attachment_too_large", tooLarge.code)

        // Its bytes decide what it is, not its name.
        val elf = File(dir, "notes.txt").apply { writeBytes(byteArrayOf(0x7F, 0x45, 0x4C, 0x46) + ByteArray(100)) }
        val exe = assertFailsWith<RapportException.Refused> { client.sendFile(chat, elf) }
        assertEquals(Refusal.Executable("elf"), exe.reason)

        val missing = assertFailsWith<RapportException.InvalidArgument> {
            client.sendFile(chat, File(dir, "gone.pdf"))
        }
        assertEquals("invalid_argument", missing.code)
        assertEquals(queued, client.outbox().size, "a refusal queues nothing")
    }

    @Test
    fun e2_a_stream_is_sent_through_a_temporary_file_that_is_then_deleted() = runBlocking {
        val chat = telegramChat()
        val cache = tempDir("rapport-cache")
        val png = byteArrayOf(0x89.toByte(), 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A) + ByteArray(50_000) { (it % 251).toByte() }
        val id = client.sendStream(chat, "photo.png", ByteArrayInputStream(png), cache, key = "layers-stream-1")
        val file = client.timelinePage(chat, null, 50u).items
            .filterIsInstance<TimelineItem.Message>().map { it.v1 }.first { it.id == id }
            .content.let { (it as Content.Attachment).v1 }
        assertEquals("photo.png", file.name)
        assertEquals(png.size.toULong(), file.sizeBytes)
        assertEquals("image/png", file.mime)
        assertEquals(emptyList(), cache.listFiles()!!.toList(), "the copy is gone once queued")
    }
}
