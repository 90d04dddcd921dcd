package app.rapport.ui

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsDisplayed
import androidx.compose.ui.test.assertTextContains
import androidx.compose.ui.test.assertTextEquals
import androidx.compose.ui.test.hasTestTag
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.junit4.createComposeRule
import androidx.compose.ui.test.onNodeWithTag
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.performTextReplacement
import app.rapport.core.Action
import app.rapport.core.Alternative
import app.rapport.core.ChatSummary
import app.rapport.core.Content
import app.rapport.core.Decision
import app.rapport.core.Delivery
import app.rapport.core.MessagingApp
import app.rapport.core.Named
import app.rapport.core.Outgoing
import app.rapport.core.RapportClient
import app.rapport.core.Refusal
import app.rapport.core.StatusFilter
import app.rapport.core.TimelineItem
import app.rapport.core.chatFilter
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.junit.After
import org.junit.AfterClass
import org.junit.BeforeClass
import org.junit.Rule
import org.junit.Test

/**
 * The app's screens (the same files Android compiles) on the desktop JVM,
 * driven through Compose UI tests against the real library and the real
 * reference server. The server's clock stands 25 hours after its seeded
 * history: WhatsApp's 24-hour windows are closed (E5), Telegram has none.
 */
@OptIn(ExperimentalTestApi::class)
class ScreensUiTest {
    @get:Rule
    val rule = createComposeRule()

    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    @After
    fun end() = scope.cancel()

    companion object {
        lateinit var server: TestServer
        lateinit var client: RapportClient

        @BeforeClass
        @JvmStatic
        fun start() {
            server = TestServer(File(tempDir("rapport-server"), "s.db"), clockOffsetMs = 25 * 3_600_000L)
            client = loggedInClient(server)
        }

        @AfterClass
        @JvmStatic
        fun stop() {
            client.close()
            server.close()
        }
    }

    private fun chats(app: MessagingApp? = null): List<ChatSummary> =
        client.chatPage(chatFilter(app = app), null, 1000u).rows

    /**
     * Waits in real time for [condition] (the core and the server work on
     * their own threads), letting Compose settle between looks. The limit
     * only ends a hung test; nothing is timed.
     */
    /** What the screens' models said last (a refusal, an error), for a failure's message. */
    private val said = mutableListOf<kotlinx.coroutines.flow.StateFlow<String?>>()
    private fun <T : Any> T.watch(message: kotlinx.coroutines.flow.StateFlow<String?>): T = also { said += message }

    private fun until(timeoutMs: Long = 30_000, condition: () -> Boolean) {
        val deadline = System.currentTimeMillis() + timeoutMs
        while (true) {
            rule.waitForIdle()
            if (condition()) return
            check(System.currentTimeMillis() < deadline) { "not reached in ${timeoutMs / 1000} s; said: ${said.map { it.value }}" }
            Thread.sleep(25)
        }
    }

    private fun waitTag(tag: String, timeoutMs: Long = 30_000) =
        until(timeoutMs) { rule.onAllNodes(hasTestTag(tag), useUnmergedTree = true).fetchSemanticsNodes().isNotEmpty() }

    private fun waitText(text: String, timeoutMs: Long = 30_000) =
        until(timeoutMs) { rule.onAllNodes(hasText(text, substring = true), useUnmergedTree = true).fetchSemanticsNodes().isNotEmpty() }

    @Test
    fun s5_login_shows_the_cores_typed_error_then_logs_in() {
        var loggedIn: RapportClient? = null
        val dir = tempDir("rapport-login")
        val model = LoginModel(scope, server.url, open = { url ->
            RapportClient(File(dir, "store.db").path, url, MemorySecretStore())
        }, onLoggedIn = { loggedIn = it })
        rule.setContent { RapportTheme { LoginScreen(model) } }
        rule.onNodeWithTag("email").performTextInput(TestServer.EMAIL)
        rule.onNodeWithTag("password").performTextInput("wrong password")
        rule.onNodeWithTag("login").performClick()
        waitTag("login-error")
        rule.onNodeWithTag("login-error").assertTextContains("Wrong email or password.")
        rule.onNodeWithTag("password").performTextReplacement(TestServer.PASSWORD)
        rule.onNodeWithTag("login").performClick()
        until(30_000) { loggedIn != null }
        assertEquals(client.loginInfo()?.memberId, loggedIn!!.loginInfo()?.memberId)
        loggedIn!!.close()
    }

    /**
     * Issue 17: the login screen's SendPulse mode logs in to a fake SendPulse
     * account (`rapport fake-sendpulse`) through the real library: a refused
     * secret shows its error, then the right one logs in and the client syncs
     * the account's chats.
     */
    @Test
    fun s5_the_sendpulse_login_logs_in_to_the_account_directly() {
        FakeSendPulse(chats = 6).use { fake ->
            var loggedIn: RapportClient? = null
            val dir = tempDir("rapport-login-sendpulse")
            var opened: String? = null
            val model = LoginModel(scope, server.url, open = { url ->
                opened = url
                RapportClient(File(dir, "store.db").path, url, MemorySecretStore())
            }, onLoggedIn = { loggedIn = it })
            said += model.error
            rule.setContent { RapportTheme { LoginScreen(model) } }
            rule.onNodeWithTag("mode-sendpulse").performClick()
            waitTag("client-id")
            assertTrue(rule.onAllNodes(hasTestTag("email")).fetchSemanticsNodes().isEmpty(), "the server's fields hidden")
            rule.onNodeWithTag("sendpulse-url").assertTextContains(LoginModel.SENDPULSE_API)
            rule.onNodeWithTag("sendpulse-url").performTextReplacement(fake.url)
            rule.onNodeWithTag("client-id").performTextInput(fake.clientId)
            rule.onNodeWithTag("client-secret").performTextInput("not-the-secret")
            rule.onNodeWithTag("operator-id").performTextInput("7")
            rule.onNodeWithTag("login").performClick()
            waitTag("login-error")
            rule.onNodeWithTag("login-error").assertTextContains("SendPulse refused the client id or secret.")
            assertEquals(fake.url, opened)
            rule.onNodeWithTag("client-secret").performTextReplacement(fake.clientSecret)
            rule.onNodeWithTag("login").performClick()
            until(30_000) { loggedIn != null }
            val client = loggedIn!!
            assertTrue(client.isSendpulse())
            assertEquals("sendpulse:${fake.clientId}", client.loginInfo()?.workspaceId)
            until(30_000) { client.chatPage(chatFilter(), null, 50u).rows.size == 6 }
            client.close()
        }
    }

    @Test
    fun a2_a5_filter_by_app_and_the_tabs_count_what_the_core_counts() {
        val model = InboxModel(client, scope)
        rule.setContent { RapportTheme { InboxScreen(model) {} } }
        val all = client.statusCounts(chatFilter())
        waitText("Open ${all.open}")
        rule.onNodeWithTag("count-ALL", useUnmergedTree = true).assertTextContains("All ${all.all}")
        rule.onNodeWithTag("app-TELEGRAM").performClick()
        val telegram = client.statusCounts(chatFilter(app = MessagingApp.TELEGRAM))
        assertTrue(telegram.all < all.all, "the filter narrows the counts")
        waitText("All ${telegram.all}")
        rule.onNodeWithTag("count-OPEN", useUnmergedTree = true).assertTextContains("Open ${telegram.open}")
        until(10_000) { model.rows.value?.all { it.chat.app == MessagingApp.TELEGRAM } == true }
        // A5: the unread tab lists what the core counts as unread.
        rule.onNodeWithTag("tab-UNREAD").performClick()
        val unread = client.chatPage(chatFilter(app = MessagingApp.TELEGRAM, status = StatusFilter.UNREAD), null, 50u).rows
        until(10_000) { model.rows.value?.map { it.chat.id } == unread.map { it.chat.id } }
        unread.firstOrNull()?.let { rule.onNodeWithTag("row-${it.chat.id}").assertIsDisplayed() }
    }

    @Test
    fun a6_search_as_you_type_shows_the_matching_subscribers() {
        val model = InboxModel(client, scope)
        rule.setContent { RapportTheme { InboxScreen(model) {} } }
        model.status(StatusFilter.ALL)
        val target = chats().first { it.chat.title.isNotBlank() }
        val word = target.chat.title.split(' ').first()
        rule.onNodeWithTag("search").performTextInput(word.take(3))
        val expected = client.chatPage(chatFilter(search = word.take(3)), null, 50u).rows.map { it.chat.id }
        assertTrue(target.chat.id in client.chatPage(chatFilter(search = word.take(3)), null, 1000u).rows.map { it.chat.id })
        until(10_000) { model.rows.value?.map { it.chat.id } == expected }
        rule.onNodeWithTag("row-${expected.first()}").assertIsDisplayed()
    }

    @Test
    fun a1_b1_e1_open_a_chat_from_the_inbox_reply_and_see_the_echo_sent() {
        val app = AppModel(client, scope)
        rule.setContent { RapportTheme { RapportApp(app) } }
        val chat = chats(MessagingApp.TELEGRAM).first { it.chat.state.name == "OPEN" }
        app.inbox.app(MessagingApp.TELEGRAM)
        app.inbox.status(StatusFilter.ALL)
        until(10_000) { app.inbox.rows.value?.any { it.chat.id == chat.chat.id } == true }
        rule.onNodeWithTag("row-${chat.chat.id}").performClick()
        waitTag("timeline")
        rule.onNodeWithTag("chat-title").assertTextContains(chat.chat.title)
        val text = "compose reply ${System.nanoTime()}"
        rule.onNodeWithTag("composer").performTextInput(text)
        waitText("characters left")
        until(10_000) { (app.route.value as? Route.Chat) != null }
        rule.onNodeWithTag("send").performClick()
        waitText(text)
        // The echo turns sent once the server has it (E7: stored first, then sent).
        fun echo() = client.timelinePage(chat.chat.id, null, 20u).items.filterIsInstance<TimelineItem.Message>()
            .map { it.v1 }.firstOrNull { (it.content as? Content.Text)?.text == text }
        until(30_000) { echo().let { it != null && it.delivery != Delivery.PENDING } }
        val id = echo()!!.id
        waitTag("ticks-$id")
        until(10_000) {
            runCatching { rule.onNodeWithTag("ticks-$id", useUnmergedTree = true).assertTextEquals(ticks(echo()!!.delivery)) }.isSuccess
        }
        assertTrue(client.outbox().none { (it.action as? Action.SendText)?.text == text }, "sent, not queued")
    }

    @Test
    fun e5_a_refused_reply_shows_its_reason_and_the_template_switch() {
        // A second server on the same history, its clock past a WhatsApp window's end.
        val db = File(tempDir("rapport-e5"), "s.db")
        val (chatId, closesAt) = TestServer(db).use { first ->
            loggedInClient(first).use { c ->
                val row = c.chatPage(chatFilter(app = MessagingApp.WHATSAPP), null, 1u).rows.first()
                val open = c.decide(row.chat.id, Outgoing.Text("hello")) as Decision.Allowed
                row.chat.id to ((open.window as app.rapport.core.WindowState.Open).closesAt - c.serverNow())
            }
        }
        val late = TestServer(db, clockOffsetMs = closesAt + 3_600_000L)
        val client = loggedInClient(late)
        val chat = client.chat(chatId)!!
        val d = client.decide(chatId, Outgoing.Text("hello"))
        check(d is Decision.Refused && d.reason is Refusal.WindowClosed && Alternative.WhatsappTemplate in d.instead) { "$d" }
        val model = ChatModel(client, scope, chat.chat.id).let { it.watch(it.message) }
        rule.setContent { RapportTheme { ChatScreen(model) } }
        waitTag("timeline")
        rule.onNodeWithTag("composer").performTextInput("hello")
        waitTag("reason")
        rule.onNodeWithTag("reason").assertTextContains("The reply window is closed", substring = true)
        rule.onNodeWithTag("alt-0").assertTextContains("Send a template")
        rule.onNodeWithText("Send").assertExists()
        rule.onNodeWithTag("template-name").performTextInput("order_update")
        rule.onNodeWithTag("alt-0").performClick()
        until(30_000) {
            client.timelinePage(chat.chat.id, null, 20u).items.any {
                ((it as? TimelineItem.Message)?.v1?.content as? Content.Template)?.name == "order_update"
            }
        }
        waitText("Template order_update")
        scope.cancel()
        client.close()
        late.close()
    }

    @Test
    fun e3_f7_pause_then_continue_from_the_header() {
        val chat = chats(MessagingApp.TELEGRAM)[1]
        val model = ChatModel(client, scope, chat.chat.id).let { it.watch(it.message) }
        rule.setContent { RapportTheme { ChatScreen(model) } }
        // A reply by another test may have paused this bot already (E3): continue first.
        until { listOf("pause", "continue").any { rule.onAllNodes(hasTestTag(it), useUnmergedTree = true).fetchSemanticsNodes().isNotEmpty() } }
        if (rule.onAllNodes(hasTestTag("continue"), useUnmergedTree = true).fetchSemanticsNodes().isNotEmpty()) {
            rule.onNodeWithTag("continue").performClick()
        }
        waitTag("pause")
        rule.onNodeWithTag("pause").performClick()
        waitTag("pause-left")
        rule.onNodeWithTag("pause-left").assertTextContains("Bot paused", substring = true)
        assertTrue((client.countdowns(chat.chat.id).pauseLeftMs ?: 0) > 0)
        rule.onNodeWithTag("extend").performClick()
        rule.onNodeWithTag("continue").performClick()
        waitTag("pause")
        until(30_000) { (client.countdowns(chat.chat.id).pauseLeftMs ?: 0) <= 0 }
    }

    @Test
    fun f5_a_variable_set_on_the_card_shows_once_synced() {
        val chat = chats(MessagingApp.TELEGRAM)[2]
        val model = CardModel(client, scope, chat.chat.subscriberId)
        rule.setContent { RapportTheme { CardScreen(model) } }
        waitTag("card-name")
        val city = "Porto ${System.nanoTime() % 1000}"
        rule.onNodeWithTag("var-name").performTextInput("city")
        rule.onNodeWithTag("var-value").performTextInput(city)
        rule.onNodeWithTag("var-set").performClick()
        waitText("city = $city")
        assertEquals(city, client.subscriber(chat.chat.subscriberId)?.variables?.get("city"))
    }

    @Test
    fun g1_g3_a_deal_moved_to_another_stage_on_the_card() {
        val subscriber = chats(MessagingApp.WHATSAPP)[1].chat.subscriberId
        val sales = Named("p-ui", "Sales")
        client.runAction(Action.AddDeal(subscriber, sales, Named("st-new", "New"), "UI deal", 10_000L, "EUR"))
        client.runAction(Action.AddDeal(subscriber, sales, Named("st-won", "Won"), "Other deal", 5_000L, "EUR"))
        eventually(30_000, "both deals are stored") { client.deals(subscriber).count { it.pipeline.id == "p-ui" } == 2 }
        val deal = client.deals(subscriber).first { it.name == "UI deal" }
        val model = CardModel(client, scope, subscriber).let { it.watch(it.message) }
        rule.setContent { RapportTheme { CardScreen(model) } }
        waitTag("move-${deal.id}-st-won")
        rule.onNodeWithTag("move-${deal.id}-st-won").performScrollTo().performClick()
        until(30_000) { client.deal(deal.id)?.stage?.name == "Won" }
        waitText("Sales · Won")
        rule.onNodeWithTag("deal-stage-${deal.id}").assertTextContains("Sales · Won")
    }

    @Test
    fun c1_the_draft_becomes_an_internal_note_from_the_composer() {
        val chat = chats(MessagingApp.INSTAGRAM)[1]
        val model = ChatModel(client, scope, chat.chat.id).let { it.watch(it.message) }
        rule.setContent { RapportTheme { ChatScreen(model) } }
        waitTag("timeline")
        // The reference server offers notes: the entry is there.
        until(10_000) { model.capabilities.value?.notes == true }
        val text = "note from the composer ${System.nanoTime()}"
        rule.onNodeWithTag("composer").performTextInput(text)
        waitTag("note")
        rule.onNodeWithTag("note").performClick()
        fun note() = client.timelinePage(chat.chat.id, null, 50u).items.filterIsInstance<TimelineItem.Note>()
            .map { it.v1 }.firstOrNull { it.text == text }
        until(30_000) { note() != null }
        waitTag("note-${note()!!.id}")
        until(10_000) { model.draft.value.isEmpty() }
        assertTrue(client.timelinePage(chat.chat.id, null, 50u).items.filterIsInstance<TimelineItem.Message>()
            .none { (it.v1.content as? Content.Text)?.text == text }, "a note, not a reply")
    }

    @Test
    fun e7_a_reply_sent_offline_is_queued_and_goes_out_when_the_server_returns() {
        val chat = chats(MessagingApp.TELEGRAM)[3]
        val inbox = InboxModel(client, scope)
        val model = ChatModel(client, scope, chat.chat.id).let { it.watch(it.message) }
        rule.setContent { RapportTheme { ChatScreen(model) } }
        waitTag("timeline")
        server.stop()
        try {
            until(60_000) { syncBanner(inbox.sync.value)?.startsWith("Offline") == true }
            val text = "offline reply ${System.nanoTime()}"
            rule.onNodeWithTag("composer").performTextInput(text)
            until(10_000) { model.composer.value.text == text && model.composer.value.decision is Decision.Allowed }
            rule.onNodeWithTag("send").performClick()
            until(30_000) { client.outbox().any { (it.action as? Action.SendText)?.text == text } }
            val queued = client.outbox().first { (it.action as? Action.SendText)?.text == text }
            fun echo() = client.timelinePage(chat.chat.id, null, 20u).items.filterIsInstance<TimelineItem.Message>()
                .map { it.v1 }.first { (it.content as? Content.Text)?.text == text }
            assertEquals(Delivery.PENDING, echo().delivery)
            assertTrue(client.outbox().any { it.id == queued.id }, "kept while offline")
            // The echo is on screen while offline, pending.
            until(10_000) { model.timeline.value?.any { (it as? TimelineItem.Message)?.v1?.id == echo().id } == true }
            waitText(text)
        } finally {
            server.start()
        }
        until(90_000) { client.outbox().none { (it.action as? Action.SendText)?.text?.startsWith("offline reply") == true } }
        until(30_000) { syncBanner(inbox.sync.value) == null }
    }
}
