// Home (A7), statistics (I1), notification settings (H4), and the app's shell:
// the bottom bar and which screen shows (the only state the shell holds).
package app.rapport.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import app.rapport.core.ChatSummary
import app.rapport.core.RapportClient
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow

@Composable
fun HomeScreen(model: HomeModel, open: (ChatSummary) -> Unit) {
    val rows by model.rows.collectAsState()
    Column(Modifier.fillMaxSize()) {
        Text("Recent messages", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(12.dp))
        LazyColumn(Modifier.fillMaxSize().testTag("home-list")) {
            items(rows ?: emptyList(), key = { it.chat.id }) { row -> ChatRow(row) { open(row) } }
        }
    }
}

@Composable
fun StatsScreen(model: StatsModel) {
    val rows by model.rows.collectAsState()
    LazyColumn(Modifier.fillMaxSize().padding(12.dp).testTag("stats")) {
        item {
            Row(Modifier.fillMaxWidth().padding(vertical = 6.dp)) {
                listOf("Bot", "Sent", "Received", "Subscribers").forEachIndexed { i, h ->
                    Text(h, Modifier.weight(if (i == 0) 2f else 1f), fontWeight = FontWeight.Bold)
                }
            }
            HorizontalDivider()
        }
        items(rows ?: emptyList()) { (s, bot) ->
            Row(Modifier.fillMaxWidth().padding(vertical = 6.dp).testTag("stats-${s.botId ?: "all"}"), verticalAlignment = Alignment.CenterVertically) {
                Row(Modifier.weight(2f), verticalAlignment = Alignment.CenterVertically) {
                    bot?.let { AppMark(it.app) }
                    Text(bot?.name ?: "All bots", Modifier.padding(start = 6.dp), fontWeight = if (bot == null) FontWeight.Bold else null)
                }
                Text("${s.sent}", Modifier.weight(1f))
                Text("${s.received}", Modifier.weight(1f))
                Text("${s.subscribers}", Modifier.weight(1f))
            }
        }
    }
}

@Composable
fun SettingsScreen(model: SettingsModel) {
    val s by model.settings.collectAsState()
    val message by model.message.collectAsState()
    Column(Modifier.fillMaxSize().padding(12.dp).testTag("settings")) {
        Text("Notifications", style = MaterialTheme.typography.titleMedium)
        MessageLine(message)
        val now = s ?: return@Column
        @Composable
        fun toggle(label: String, tag: String, on: Boolean, change: (Boolean) -> Unit) =
            Row(Modifier.fillMaxWidth().padding(vertical = 6.dp), verticalAlignment = Alignment.CenterVertically) {
                Text(label, Modifier.weight(1f))
                Switch(on, change, Modifier.testTag(tag))
            }
        toggle("Email about open chats", "set-email", now.email) { v -> model.set { it.copy(email = v) } }
        toggle("Notifications bot", "set-bot", now.notificationsBot) { v -> model.set { it.copy(notificationsBot = v) } }
        toggle("Push notifications", "set-push", now.push) { v -> model.set { it.copy(push = v) } }
        toggle("Message text in pushes", "set-preview", now.pushPreview) { v -> model.set { it.copy(pushPreview = v) } }
    }
}

/** Where the app is: one of the tabs, or a chat, or a subscriber's card. */
sealed interface Route {
    data object Inbox : Route
    data object Home : Route
    data object Stats : Route
    data object Settings : Route
    data class Chat(val chatId: String) : Route
    data class Card(val subscriberId: String, val from: Route) : Route
}

/** The shell's state: which screen shows (a push's tap or a deep link sets [route]). */
class AppModel(val client: RapportClient, val scope: CoroutineScope) {
    val route = MutableStateFlow<Route>(Route.Inbox)
    val inbox = InboxModel(client, scope)
}

/** A screen state's lifetime: its scope ends when the screen leaves. */
@Composable
fun <T> rememberModel(key: Any, make: (CoroutineScope) -> T): T {
    val scope = remember(key) { CoroutineScope(SupervisorJob() + Dispatchers.Default) }
    DisposableEffect(key) { onDispose { scope.cancel() } }
    return remember(key) { make(scope) }
}

@Composable
fun RapportApp(app: AppModel) {
    val route by app.route.collectAsState()
    val go = { r: Route -> app.route.value = r }
    Scaffold(bottomBar = {
        if (route !is Route.Chat && route !is Route.Card) {
            NavigationBar {
                listOf(Route.Inbox to "Inbox", Route.Home to "Home", Route.Stats to "Statistics", Route.Settings to "Settings")
                    .forEach { (r, label) ->
                        NavigationBarItem(route == r, { go(r) }, icon = {}, label = { Text(label) }, modifier = Modifier.testTag("nav-$label"))
                    }
            }
        }
    }) { padding ->
        Column(Modifier.padding(padding)) {
            when (val r = route) {
                Route.Inbox -> InboxScreen(app.inbox) { go(Route.Chat(it.chat.id)) }
                Route.Home -> HomeScreen(rememberModel(r) { HomeModel(app.client, it) }) { go(Route.Chat(it.chat.id)) }
                Route.Stats -> StatsScreen(rememberModel(r) { StatsModel(app.client, it) })
                Route.Settings -> SettingsScreen(rememberModel(r) { SettingsModel(app.client, it) })
                is Route.Chat -> ChatScreen(
                    rememberModel(r) { ChatModel(app.client, it, r.chatId) },
                    openCard = { go(Route.Card(it, r)) }, back = { go(Route.Inbox) },
                )
                is Route.Card -> CardScreen(rememberModel(r) { CardModel(app.client, it, r.subscriberId) }) { go(r.from) }
            }
        }
    }
}
