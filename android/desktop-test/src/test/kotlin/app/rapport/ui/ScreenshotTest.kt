package app.rapport.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.rapport.core.Action
import app.rapport.core.ChatSummary
import app.rapport.core.MessagingApp
import app.rapport.core.Named
import app.rapport.core.RapportClient
import app.rapport.core.StatusFilter
import app.rapport.core.TimelineItem
import app.rapport.core.chatFilter
import java.io.File
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.jetbrains.skia.EncodedImageFormat
import org.jetbrains.skia.Image
import org.junit.AfterClass
import org.junit.BeforeClass
import org.junit.Test

/**
 * A picture of every screen, rendered headless (ImageComposeScene) on the
 * reference server's generated workspace, written to rapport.screens.out
 * (docs/screens in scripts/test.sh; target/screens otherwise). A screen that
 * cannot render, or renders blank, fails the test.
 */
class ScreenshotTest {
    companion object {
        lateinit var server: TestServer
        lateinit var client: RapportClient
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val out: File = File(System.getProperty("rapport.screens.out").orEmpty().ifEmpty { "target/screens" })

        @BeforeClass
        @JvmStatic
        fun start() {
            server = TestServer(File(tempDir("rapport-server"), "s.db"), clockOffsetMs = 25 * 3_600_000L)
            client = loggedInClient(server)
            out.mkdirs()
        }

        @AfterClass
        @JvmStatic
        fun stop() {
            scope.cancel()
            client.close()
            server.close()
        }
    }

    /** Renders [content] at a phone's size ([phoneScene]) and writes [name].png. */
    private fun shoot(name: String, content: @Composable () -> Unit) {
        val scene = phoneScene(content)
        val image: Image = try {
            var t = 0L
            repeat(5) { scene.render(t); t += 100_000_000L }
            scene.render(t)
        } finally {
            scene.close()
        }
        val bitmap = org.jetbrains.skia.Bitmap.makeFromImage(image)
        val colours = HashSet<Int>()
        for (y in 0 until bitmap.height step 16) for (x in 0 until bitmap.width step 16) colours += bitmap.getColor(x, y)
        assertTrue(colours.size > 3, "$name rendered blank")
        val png = image.encodeToData(EncodedImageFormat.PNG) ?: error("$name: no PNG")
        File(out, "$name.png").writeBytes(png.bytes)
    }

    private fun chats(app: MessagingApp): List<ChatSummary> = client.chatPage(chatFilter(app = app), null, 200u).rows

    @Test
    fun s5_login() = shoot("login") {
        LoginScreen(LoginModel(scope, "https://rapport.example.com", open = { error("not in a picture") }, onLoggedIn = {}))
    }

    /** Issue 17: the login's SendPulse mode (API credentials, no server). */
    @Test
    fun s5_login_sendpulse() = shoot("login-sendpulse") {
        LoginScreen(
            LoginModel(scope, "https://rapport.example.com", open = { error("not in a picture") }, onLoggedIn = {})
                .apply { mode.value = LoginMode.SENDPULSE; clientId.value = "a1b2c3d4e5f6" },
        )
    }

    @Test
    fun a1_a6_inbox() {
        val model = InboxModel(client, scope)
        model.status(StatusFilter.ALL)
        eventually(message = "the inbox loads") { model.rows.value?.isNotEmpty() == true && model.counts.value != null }
        shoot("inbox") { InboxScreen(model) {} }
    }

    @Test
    fun b1_b9_c1_e4_chat() {
        // The chat with the most kinds of content, and a note on it.
        val chat = chats(MessagingApp.TELEGRAM).maxBy { s ->
            client.timelinePage(s.chat.id, null, 30u).items.map { (it as? TimelineItem.Message)?.v1?.content?.javaClass }.toSet().size
        }
        client.runAction(Action.AddNote(chat.chat.id, "Asked for the invoice 📄, call back tomorrow"))
        val model = ChatModel(client, scope, chat.chat.id)
        model.draft.value = "Your order ships today 🚚"
        eventually(message = "the chat loads") {
            model.timeline.value?.any { it is TimelineItem.Note } == true && model.summary.value != null &&
                model.composer.value.decision != null && model.countdowns.value != null
        }
        shoot("chat") { ChatScreen(model) }
    }

    @Test
    fun e5_chat_outside_the_window() {
        val chat = chats(MessagingApp.WHATSAPP).first()
        val model = ChatModel(client, scope, chat.chat.id)
        model.draft.value = "Are you still there?"
        eventually(message = "the chat loads") { model.timeline.value != null && model.composer.value.left != null }
        shoot("chat-window-closed") { ChatScreen(model) }
    }

    @Test
    fun f1_f8_card() {
        val chat = chats(MessagingApp.INSTAGRAM).first()
        client.runAction(Action.EditSubscriber(chat.chat.subscriberId, app.rapport.core.SubscriberChanges(
            variables = mapOf("city" to "Lisboa"), addTags = listOf("vip"),
        )))
        val model = CardModel(client, scope, chat.chat.subscriberId)
        eventually(message = "the card loads") { model.subscriber.value?.tags?.contains("vip") == true }
        shoot("card") { CardScreen(model) }
    }

    @Test
    fun g1_g3_deals() {
        val subscriber = chats(MessagingApp.WHATSAPP)[2].chat.subscriberId
        val sales = Named("p-pic", "Sales")
        client.runAction(Action.AddDeal(subscriber, sales, Named("st-new", "New"), "Website redesign", 250_000L, "EUR"))
        client.runAction(Action.AddDeal(subscriber, sales, Named("st-won", "Won"), "Support plan", 48_000L, "EUR"))
        val model = CardModel(client, scope, subscriber)
        eventually(message = "the deals load") { model.deals.value.size >= 2 }
        shoot("deals") { Column(Modifier.padding(12.dp)) { DealsSection(model) } }
    }

    @Test
    fun a7_home() {
        val model = HomeModel(client, scope)
        eventually(message = "home loads") { model.rows.value?.isNotEmpty() == true }
        shoot("home") { HomeScreen(model) {} }
    }

    @Test
    fun i1_statistics() {
        val model = StatsModel(client, scope)
        eventually(message = "statistics load") { model.rows.value?.isNotEmpty() == true }
        shoot("statistics") { StatsScreen(model) }
    }

    @Test
    fun h4_notification_settings() {
        val model = SettingsModel(client, scope)
        eventually(message = "settings load") { model.settings.value != null }
        shoot("notification-settings") { SettingsScreen(model) }
    }
}
