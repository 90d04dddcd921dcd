package app.rapport.core

import java.io.File
import java.util.UUID
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * Issue 17: the direct SendPulse connector through the bindings. The real
 * library logs in to a fake SendPulse account over loopback (`rapport
 * fake-sendpulse`, six chats, one per app), syncs its chats, and a reply
 * reaches the account; what SendPulse cannot do is hidden or refused, typed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SendPulseTest {
    private lateinit var fake: FakeSendPulse

    @BeforeAll
    fun start() {
        fake = FakeSendPulse(chats = 6, messages = 24)
    }

    @AfterAll
    fun stop() = fake.close()

    @Test
    fun s5_s2_e1_a_sendpulse_login_syncs_the_accounts_chats_and_a_reply_reaches_sendpulse() {
        val dir = tempDir("rapport-sendpulse")
        val store = File(dir, "store.db")
        val secrets = MemorySecretStore()
        RapportClient(store.path, fake.url, secrets).use { client ->
            // S5: bad credentials are the typed "not logged in"; nothing kept.
            assertFailsWith<RapportException.NotLoggedIn> {
                runBlocking { client.loginSendpulse(fake.clientId, "not-the-secret", null) }
            }
            assertFailsWith<RapportException.InvalidArgument> {
                runBlocking { client.loginSendpulse(" ", fake.clientSecret, null) }
            }
            assertNull(client.loginInfo())
            assertFalse(client.isSendpulse())

            val info = runBlocking { client.loginSendpulse(fake.clientId, fake.clientSecret, 7L) }
            assertEquals("sendpulse:${fake.clientId}", info.workspaceId)
            assertTrue(client.isSendpulse())
            // The secret went to the platform's secret store, not the SQLite file.
            assertTrue(secrets.load("rapport.sendpulse")!!.contains(fake.clientSecret))
            // What SendPulse cannot do, so the screens hide it.
            val caps = client.capabilities()
            assertFalse(caps.liveStream || caps.editDelete || caps.quotes || caps.idempotency)
            assertFalse(caps.files || caps.reactions || caps.templates || caps.flows || caps.deals)

            // S2: the first sync brings the account's chats, one per app.
            runBlocking {
                client.startSync()
                client.syncStates().awaitFirst(30_000) { it is SyncState.Live }
            }
            val rows = client.chatPage(chatFilter(), null, 100u).rows
            assertEquals(6, rows.size)
            assertEquals(MessagingApp.entries.toSet(), rows.map { it.chat.app }.toSet())
            assertTrue(rows.all { it.chat.id.startsWith("sp-") })

            // E1: a reply goes out through SendPulse's API and its echo becomes the message.
            val chat = rows.first { it.chat.app == MessagingApp.TELEGRAM }.chat.id
            assertTrue(client.decide(chat, Outgoing.Text("hello")) is Decision.Allowed)
            val text = "hello from Kotlin ${UUID.randomUUID()}"
            val id = client.sendText(chat, text)
            eventually(20_000, "the reply confirmed") {
                client.outbox().isEmpty() && client.timelinePage(chat, null, 50u).items
                    .filterIsInstance<TimelineItem.Message>()
                    .any { it.v1.id == id && it.v1.delivery != Delivery.PENDING }
            }
            assertEquals(listOf(text), fake.outgoing("telegram", chat.removePrefix("sp-")).filter { it == text })

            // What needs a Rapport server is refused with its stable code.
            val refused = assertFailsWith<RapportException.Server> { runBlocking { client.notificationSettings() } }
            assertEquals("not_supported", refused.code)
            client.stopSync()
        }
        // Nor in any file of the store (the database, its WAL). The store's last connection may
        // still be closing: it folds the WAL into the database and deletes the WAL and shm files.
        // So those are read first, the database last, and a file already gone is skipped.
        val files = dir.listFiles()!!.filter { it.isFile }.sortedBy { it.name == store.name }
        for (f in files) {
            val bytes = try { f.readBytes() } catch (_: java.io.FileNotFoundException) { continue }
            assertFalse(bytes.toString(Charsets.ISO_8859_1).contains(fake.clientSecret), f.name)
        }

        // A client made again with the same URL and secrets is logged in to SendPulse.
        RapportClient(store.path, fake.url, secrets).use { again ->
            assertNotNull(again.loginInfo())
            assertTrue(again.isSendpulse())
            runBlocking { again.logout() }
        }
        assertNull(secrets.load("rapport.sendpulse"), "logout forgets the credentials")
    }
}
