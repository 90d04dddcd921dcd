// The one activity: the login screen until a session exists, then the app's
// screens (app.rapport.ui, the same files the desktop JVM tests drive). A
// tapped notification opens its chat (the core reads the chat from the push).
package app.rapport.android

import android.content.Intent
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import app.rapport.core.RapportException
import app.rapport.core.chatToOpen
import app.rapport.core.io
import app.rapport.core.openRapportClient
import app.rapport.notify.Notifications
import app.rapport.ui.AppModel
import app.rapport.ui.LoginModel
import app.rapport.ui.LoginScreen
import app.rapport.ui.RapportApp
import app.rapport.ui.RapportTheme
import app.rapport.ui.Route
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch

class MainActivity : ComponentActivity() {
    private val app get() = application as RapportApplication

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        Session.start(app)
        setContent { RapportTheme { Root(app) } }
        handle(intent)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    override fun onResume() {
        super.onResume()
        // E7: what the notification process queued goes out now.
        app.client?.let { c -> Session.scope.launch { runCatching { c.io.appResumed() } } }
    }

    override fun onPause() {
        super.onPause()
        app.viewing = null
    }

    /** A tapped notification: open its chat. */
    private fun handle(intent: Intent?) {
        val json = intent?.takeIf { it.action == Notifications.ACTION_OPEN_CHAT }
            ?.getStringExtra(Notifications.EXTRA_PUSH) ?: return
        try {
            val chat = chatToOpen(json)
            Session.pendingChat.value = chat
            Session.app.value?.route?.value = Route.Chat(chat)
        } catch (_: RapportException) {
            // Not a push of ours: the inbox shows.
        }
    }
}

/** The process's session: the client opened from disk (S1), or the login screen. */
object Session {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    val app = MutableStateFlow<AppModel?>(null)
    val login = MutableStateFlow<LoginModel?>(null)
    val pendingChat = MutableStateFlow<String?>(null)
    @Volatile
    private var started = false

    fun start(application: RapportApplication) {
        if (started) return
        started = true
        scope.launch {
            val saved = try {
                openRapportClient(application.storePath, application.serverUrl, application.secrets)
            } catch (_: RapportException) {
                null
            }
            if (saved?.loginInfo() != null) {
                runCatching { saved.io.startSync() }
                loggedIn(application, saved)
            } else {
                saved?.close()
                login.value = LoginModel(scope, application.serverUrl, open = { url ->
                    application.serverUrl = url
                    openRapportClient(application.storePath, url, application.secrets)
                }, onLoggedIn = { loggedIn(application, it) })
            }
        }
    }

    private fun loggedIn(application: RapportApplication, client: app.rapport.core.RapportClient) {
        application.client = client
        val model = AppModel(client, scope)
        pendingChat.value?.let { model.route.value = Route.Chat(it) }
        app.value = model
    }
}

@Composable
private fun Root(application: RapportApplication) {
    val model by Session.app.collectAsState()
    val login by Session.login.collectAsState()
    val current = model
    if (current != null) {
        val route by current.route.collectAsState()
        // H2: the chat on screen gets no notification.
        LaunchedEffect(route) { application.viewing = (route as? Route.Chat)?.chatId }
        RapportApp(current)
    } else {
        login?.let { LoginScreen(remember(it) { it }) }
    }
}
