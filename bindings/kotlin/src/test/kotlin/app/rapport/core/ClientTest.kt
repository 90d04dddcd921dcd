package app.rapport.core

import java.io.File
import java.text.Normalizer
import java.util.UUID
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** The bindings against the real reference server (200 chats, 2,000 messages). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClientTest {
    private lateinit var server: TestServer
    private lateinit var client: RapportClient

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"))
        client = loggedInClient(server)
    }

    @AfterAll
    fun stop() {
        client.close()
        server.close()
    }

    private fun all(filter: ChatFilter): List<ChatSummary> = client.chatPage(filter, null, 1000u).rows

    @Test
    fun s5_s2_a1_login_syncs_to_live_and_the_list_is_newest_first() {
        assertEquals("u0", client.loginInfo()?.memberId)
        val page = runBlocking { client.page(limit = 50u) }
        assertEquals(50, page.rows.size)
        assertNotNull(page.next, "200 chats make more than one page")
        val times = page.rows.map { it.chat.lastActivity }
        assertEquals(times.sortedDescending(), times)
        val next = client.chatPage(chatFilter(), page.next, 50u)
        assertTrue(next.rows.first().chat.lastActivity <= times.last())
        assertEquals(200uL, client.statusCounts(chatFilter()).all)
        assertEquals(200, all(chatFilter()).size)
    }

    @Test
    fun a2_a3_a4_a5_filters_narrow_the_list_and_counts_agree() {
        val byApp = MessagingApp.entries.sumOf { app ->
            all(chatFilter(app = app)).onEach { assertEquals(app, it.chat.app) }.size
        }
        assertEquals(200, byApp)
        val groups = all(chatFilter(kind = ChatKind.GROUP))
        assertTrue(groups.isNotEmpty() && groups.all { it.chat.kind == ChatKind.GROUP })
        val mine = all(chatFilter(assignee = AssigneeFilter.MINE))
        assertTrue(mine.isNotEmpty() && mine.all { it.chat.assignee == "u0" })
        assertTrue(all(chatFilter(assignee = AssigneeFilter.UNASSIGNED)).all { it.chat.assignee == null })
        val counts = client.statusCounts(chatFilter())
        for ((status, count) in listOf(
            StatusFilter.UNREAD to counts.unread, StatusFilter.OPEN to counts.open,
            StatusFilter.CLOSED to counts.closed,
        )) {
            val rows = all(chatFilter(status = status))
            assertEquals(count, rows.size.toULong(), "$status")
        }
        assertTrue(all(chatFilter(status = StatusFilter.UNREAD)).all { it.status == ChatStatus.UNREAD })
        assertTrue(all(chatFilter(status = StatusFilter.CLOSED)).all { it.status == ChatStatus.CLOSED })
    }

    @Test
    fun a6_search_by_word_prefix_ignores_case_and_accents() {
        fun fold(s: String) = Normalizer.normalize(s, Normalizer.Form.NFD)
            .replace(Regex("\\p{M}"), "").lowercase()
        val accented = all(chatFilter()).first { row ->
            val word = row.chat.title.split(' ').first()
            word.length >= 3 && fold(word) != word.lowercase()
        }
        val prefix = fold(accented.chat.title.split(' ').first()).take(3).uppercase()
        val found = all(chatFilter(search = prefix))
        assertTrue(found.any { it.chat.id == accented.chat.id }, "'$prefix' finds ${accented.chat.title}")
        assertTrue(found.all { row -> row.chat.title.split(' ').any { fold(it).startsWith(prefix.lowercase()) } })
    }

    @Test
    fun b1_a_timeline_opens_with_its_newest_items_oldest_first() {
        val chat = all(chatFilter()).first().chat.id
        val items = runBlocking { withTimeout(10_000) { client.timeline(chat, 20u).first() } }
        assertTrue(items.isNotEmpty())
        assertEquals(client.timelinePage(chat, null, 20u).items, items)
        val times = items.filterIsInstance<TimelineItem.Message>().map { it.v1.sentAt }
        assertEquals(times.sorted(), times)
    }

    @Test
    fun e1_e7_a_reply_shows_its_echo_pending_then_the_confirmation() {
        val chat = all(chatFilter(app = MessagingApp.TELEGRAM)).first().chat.id
        assertTrue(client.decide(chat, Outgoing.Text("hello")) is Decision.Allowed)
        val key = UUID.randomUUID().toString()
        val id = "m-$key"
        fun List<TimelineItem>.delivery(): Delivery? = filterIsInstance<TimelineItem.Message>()
            .firstOrNull { it.v1.id == id }?.let { it.v1.delivery ?: Delivery.SENT }
        val deliveries = runBlocking {
            val subscribed = CompletableDeferred<Unit>()
            val seen = async(Dispatchers.Default) {
                client.timeline(chat, 20u)
                    .onEach { subscribed.complete(Unit) }
                    .map { it.delivery() }
                    .distinctUntilChanged()
                    .takeWhile { it == null || it == Delivery.PENDING }
                    .toList()
            }
            subscribed.await()
            assertEquals(id, client.sendTextKeyed(chat, "hello from the JVM", key))
            withTimeout(15_000) { seen.await() }
        }
        assertEquals(listOf(null, Delivery.PENDING), deliveries, "absent, then the echo")
        val confirmed = client.timelinePage(chat, null, 20u).items.delivery()
        assertNotEquals(Delivery.PENDING, confirmed)
        assertNotEquals(Delivery.FAILED, confirmed)
        eventually(message = "the outbox empties") { client.outbox().isEmpty() }
    }

    @Test
    fun e1_a_reply_too_long_is_refused_with_its_typed_error_and_nothing_queued() {
        val chat = all(chatFilter(app = MessagingApp.TELEGRAM)).first().chat.id
        val e = assertFailsWith<RapportException.Refused> { client.sendText(chat, "a".repeat(513)) }
        val reason = e.reason as Refusal.TextTooLong
        assertEquals(512u, reason.limit)
        assertEquals(513u, reason.actual)
        assertEquals("text_too_long", e.code)
        assertTrue(client.outbox().none { it.chatId == chat })
        // E1: Instagram counts bytes: 300 emoji fit in 512 characters, not in 1000 bytes.
        val ig = all(chatFilter(app = MessagingApp.INSTAGRAM)).first().chat.id
        val d = client.decide(ig, Outgoing.Text("😀".repeat(300))) as Decision.Refused
        assertEquals(LengthUnit.UTF8_BYTES, (d.reason as Refusal.TextTooLong).unit)
        assertFailsWith<RapportException.UnknownChat> { client.sendText("no-such-chat", "hi") }
    }

    @Test
    fun d1_b8_check_action_gives_the_cores_reason_before_the_tap_and_queues_nothing() {
        eventually(15_000, "the other tests' commands sent") { client.outbox().isEmpty() }
        val telegram = all(chatFilter(app = MessagingApp.TELEGRAM))
        val chat = telegram.first().chat.id
        // D1: only a member with conversations may be assigned.
        val unknown = assertFailsWith<RapportException.Refused> {
            client.checkAction(Action.Assign(chat, "no-such-member"))
        }
        assertEquals(Refusal.NotAssignable, unknown.reason)
        assertEquals("not_assignable", unknown.code)
        client.checkAction(Action.Assign(chat, client.members(true).first().id))
        // B8: the subscriber's own message is not the agent's to edit; nor
        // is any message outside Telegram.
        val (tgChat, theirs) = telegram.firstNotNullOf { row ->
            client.timelinePage(row.chat.id, null, 50u).items.filterIsInstance<TimelineItem.Message>()
                .firstOrNull { it.v1.sender == Sender.Subscriber }?.let { row.chat.id to it.v1.id }
        }
        val wrong = assertFailsWith<RapportException.Refused> {
            client.checkAction(Action.EditMessage(tgChat, theirs, "fixed"))
        }
        assertEquals(Refusal.WrongMessage, wrong.reason)
        val (waChat, waMessage) = all(chatFilter(app = MessagingApp.WHATSAPP)).firstNotNullOf { row ->
            client.timelinePage(row.chat.id, null, 50u).items.filterIsInstance<TimelineItem.Message>()
                .firstOrNull()?.let { row.chat.id to it.v1.id }
        }
        val unsupported = assertFailsWith<RapportException.Refused> {
            client.checkAction(Action.DeleteMessage(waChat, waMessage))
        }
        assertEquals(Refusal.NotSupported(MessagingApp.WHATSAPP), unsupported.reason)
        // B10: reading a chat is always allowed; an unknown chat is its own error.
        client.checkAction(Action.MarkRead(chat))
        assertFailsWith<RapportException.UnknownChat> { client.checkAction(Action.MarkRead("no-such-chat")) }
        assertEquals(emptyList(), client.outbox(), "checking queues nothing")
    }

    @Test
    fun the_reference_servers_backend_can_do_everything_a_screen_offers() {
        assertEquals(
            Capabilities(
                liveStream = true, editDelete = true, quotes = true, idempotency = true,
                files = true, reactions = true, templates = true, flows = true, deals = true, notes = true,
            ),
            client.capabilities(),
        )
    }

    @Test
    fun a5_counts_and_the_list_are_live() {
        runBlocking {
            val chat = all(chatFilter(app = MessagingApp.TELEGRAM)).last().chat.id
            val subscribed = CompletableDeferred<Unit>()
            val top = async(Dispatchers.Default) {
                client.chatList(chatFilter(), 10u)
                    .onEach { subscribed.complete(Unit) }
                    .first { it.firstOrNull()?.chat?.id == chat }
            }
            subscribed.await()
            client.send(chat, "up to the top")
            assertEquals(chat, withTimeout(15_000) { top.await() }.first().chat.id)
            val counts = withTimeout(5_000) { client.counts(chatFilter()).first() }
            assertEquals(200uL, counts.all)
        }
    }

    @Test
    fun s3_a_listener_that_throws_is_contained_and_the_others_go_on() {
        val chat = all(chatFilter(app = MessagingApp.TELEGRAM))[1].chat.id
        var calls = 0
        val throwing = object : ChatListListener {
            override fun onDiffs(diffs: List<ChatListDiff>) {
                calls++
                throw IllegalStateException("a bug in the app")
            }
        }
        client.subscribeChatList(chatFilter(), 10u, throwing).use { handle ->
            runBlocking {
                val subscribed = CompletableDeferred<Unit>()
                val top = async(Dispatchers.Default) {
                    client.chatList(chatFilter(), 10u)
                        .onEach { subscribed.complete(Unit) }
                        .first { it.firstOrNull()?.chat?.id == chat }
                }
                subscribed.await()
                client.send(chat, "still live")
                withTimeout(15_000) { top.await() }
            }
            handle.cancel()
        }
        assertTrue(calls >= 2, "the initial value and the change: $calls")
        assertTrue(client.syncState() is SyncState.Live)
    }

    @Test
    fun s5_logout_wipes_the_store_and_closes_the_client() {
        val dir = tempDir("rapport-logout")
        val secrets = MemorySecretStore()
        RapportClient(File(dir, "store.db").path, server.url, secrets).use { c ->
            runBlocking { c.login(TestServer.EMAIL, TestServer.PASSWORD) }
            assertNotNull(secrets.load("rapport.session"), "the session is in the secret store")
            runBlocking { c.logout() }
            assertTrue(File(dir, "store.db").exists().not(), "the store is deleted")
            assertEquals(null, secrets.load("rapport.session"))
            assertFailsWith<RapportException.Closed> { c.chatPage(chatFilter(), null, 1u) }
        }
    }

    @Test
    fun s5_a_secret_store_that_throws_gives_an_error_not_a_crash() {
        // Saving fails: the session works for this run (the core logs it).
        val noSave = object : SecretStore {
            override fun load(key: String): String? = null
            override fun save(key: String, value: String) = throw IllegalStateException("keystore locked")
            override fun delete(key: String) {}
        }
        RapportClient(File(tempDir("rapport-secrets"), "store.db").path, server.url, noSave).use { c ->
            assertEquals("u0", runBlocking { c.login(TestServer.EMAIL, TestServer.PASSWORD) }.memberId)
        }
        // Restoring fails: opening the client reports it as the secret
        // store's error (not the network's: retrying would not help).
        val noLoad = object : SecretStore {
            override fun load(key: String): String? = throw SecretStoreException.Failed("keystore locked")
            override fun save(key: String, value: String) {}
            override fun delete(key: String) {}
        }
        val e = assertFailsWith<RapportException.SecretStore> {
            RapportClient(File(tempDir("rapport-secrets"), "store.db").path, server.url, noLoad)
        }
        assertEquals("secret_store", e.code)
    }
}
