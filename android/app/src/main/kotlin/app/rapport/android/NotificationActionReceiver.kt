// H3 from the notification: "Reply" (RemoteInput) and "Mark read", handled
// off the main thread with goAsync (the system gives a receiver about 10 s;
// the core's reply waits at most that long, and what it could not send stays
// queued for the app: never lost, never sent twice).
package app.rapport.android

import android.app.RemoteInput
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import app.rapport.core.Action
import app.rapport.core.NotificationClient
import app.rapport.core.RapportException
import app.rapport.core.io
import app.rapport.notify.Notifications
import app.rapport.ui.describe
import java.util.UUID
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch

class NotificationActionReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val app = context.applicationContext as RapportApplication
        val json = intent.getStringExtra(Notifications.EXTRA_PUSH) ?: return
        val chat = intent.getStringExtra(Notifications.EXTRA_CHAT) ?: return
        val tag = intent.getStringExtra(Notifications.EXTRA_TAG) ?: "chat:$chat"
        val pending = goAsync()
        scope.launch {
            val notifier = Notifier(app)
            try {
                when (intent.action) {
                    Notifications.ACTION_REPLY -> {
                        val text = RemoteInput.getResultsFromIntent(intent)
                            ?.getCharSequence(Notifications.KEY_REPLY_TEXT)?.toString() ?: return@launch
                        // One key per reply tapped: the same reply retried is one message.
                        val key = "n" + UUID.randomUUID().toString().replace("-", "")
                        val client = app.client
                        if (client != null) {
                            client.replyPush(json, text, key)
                        } else {
                            NotificationClient(app.storePath, app.serverUrl, app.secrets).use { it.replyAsync(json, text, key) }
                        }
                        notifier.cancel(tag)
                    }
                    Notifications.ACTION_MARK_READ -> {
                        // Queued in the outbox (E7): sent by the running app, else now by a
                        // notification client (one chat touched), else at the app's next start.
                        val client = app.client
                        if (client != null) {
                            client.io.runAction(Action.MarkRead(chat))
                        } else {
                            val key = "r" + UUID.randomUUID().toString().replace("-", "")
                            NotificationClient(app.storePath, app.serverUrl, app.secrets).use { it.markReadAsync(json, key) }
                        }
                        notifier.cancel(tag)
                    }
                }
            } catch (e: RapportException) {
                notifier.replyFailed(tag, chat, "Not sent", describe(e), json)
            } finally {
                pending.finish()
            }
        }
    }

    private companion object {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    }
}
