package app.rapport.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * The push path as a phone runs it, through the bindings: a chat read on
 * another device removes its notification (B10/H2), a tapped push names the
 * chat to open (H2), and logout unregisters the device it registered
 * (H2/S5). The server's push sink and the 61-second shared-session case are
 * proved in Rust (tests/tests/session_push.rs), where the server's clock is
 * the test's.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SessionTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"), chats = 30, messages = 300)
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    /** A client on its own store and file secrets, logged in, synced. */
    private fun app(dir: File): RapportClient {
        val client = RapportClient(File(dir, "store.db").path, server.url, FileSecretStore(File(dir, "secrets")))
        runBlocking {
            client.login(TestServer.EMAIL, TestServer.PASSWORD)
            client.startSync()
            client.syncStates().awaitFirst(30_000) { it is SyncState.Live }
        }
        return client
    }

    /** What FCM hands the app for [kind] in [chat] at [seq]. */
    private fun push(chat: String, seq: Long, kind: String, now: Long): String {
        val inner = """{"v":1,"kind":"$kind","workspace_id":"demo","chat_id":"$chat",""" +
            """"message_id":"m$seq","seq":$seq,"sent_at":$now,"title":"Ana","preview":null}"""
        val escaped = inner.replace("\\", "\\\\").replace("\"", "\\\"")
        return """{"rapport":"$escaped"}"""
    }

    @Test
    fun b10_h2_a_read_on_another_device_removes_the_notification_and_a_tap_names_the_chat() {
        val dir = tempDir("rapport-app")
        app(dir).use { client ->
            val chat = client.chatPage(chatFilter(), null, 1u).rows.first().chat.id
            val now = client.serverNow()
            val message = push(chat, 5_000_001, "new_message", now)
            val read = push(chat, 5_000_002, "chat_read", now)
            assertEquals(chat, chatToOpen(message))
            NotificationClient(File(dir, "store.db").path, server.url, FileSecretStore(File(dir, "secrets"))).use { nc ->
                val shown = assertIs<PushDecision.Show>(nc.show(message, null))
                val removed = assertIs<PushDecision.Remove>(nc.show(read, null))
                assertEquals(shown.tag, removed.tag)
                assertEquals("chat:$chat", removed.tag)
                assertEquals(chat, removed.chatId)
                // Delivered twice: nothing more to remove.
                assertIs<PushDecision.Suppress>(nc.show(read, null))
                // The next message alerts again, counted from one.
                val next = assertIs<PushDecision.Show>(nc.show(push(chat, 5_000_003, "new_message", now), null))
                assertEquals(1u, next.count)
                assertEquals(true, next.alert)
            }
        }
    }

    @Test
    fun h2_a_tapped_push_that_is_not_ours_or_is_broken_is_a_typed_error() {
        for (bad in listOf("", "{}", """{"aps":{}}""", """{"rapport":"{\"v\":1}"}""", """{"rapport":{"v":99}}""")) {
            assertFailsWith<RapportException.InvalidArgument>(bad) { chatToOpen(bad) }
        }
    }

    @Test
    fun h2_s5_logout_unregisters_the_device_it_registered() {
        val dir = tempDir("rapport-app")
        val secrets = FileSecretStore(File(dir, "secrets"))
        val client = app(dir)
        runBlocking {
            client.registerDevice(DeviceRegistration("pixel-8", PushPlatform.FCM, "fcm-token"))
        }
        assertEquals("pixel-8", secrets.load("rapport.device"))
        assertNotNull(secrets.load("rapport.session"))
        runBlocking { client.logout() }
        // Unregistered on the server (the Rust test reads its push sink),
        // then forgotten with the session.
        assertNull(secrets.load("rapport.device"))
        assertNull(secrets.load("rapport.session"))
        assertFailsWith<RapportException.NotLoggedIn> {
            NotificationClient(File(dir, "store.db").path, server.url, secrets)
        }
        client.close()
    }
}
