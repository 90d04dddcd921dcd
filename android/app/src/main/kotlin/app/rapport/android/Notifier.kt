// Draws the notification specs (app.rapport.notify, tested on the JVM) with the
// framework: Notification.MessagingStyle, a channel per kind, one notification
// per chat by tag, a RemoteInput reply and a mark-read action handled by
// NotificationActionReceiver, the badge (unread chats), a tap that opens the chat.
package app.rapport.android

import android.app.Notification
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Person
import android.app.RemoteInput
import android.content.Context
import android.content.Intent
import android.graphics.drawable.Icon
import android.os.Build
import app.rapport.notify.ActionSpec
import app.rapport.notify.NotificationCommand
import app.rapport.notify.NotificationSpec
import app.rapport.notify.Notifications

class Notifier(private val context: Context) {
    private val nm = context.getSystemService(NotificationManager::class.java)

    /** Carries out what the core decided for a push ([pushJson]: what the actions hand back to it). */
    fun apply(command: NotificationCommand, pushJson: String) {
        when (command) {
            is NotificationCommand.Post -> if (nm.areNotificationsEnabled()) {
                nm.notify(command.spec.tag, Notifications.ID, build(command.spec, pushJson))
            }
            is NotificationCommand.Cancel -> nm.cancel(command.tag, Notifications.ID)
            is NotificationCommand.Nothing -> Unit
        }
    }

    fun cancel(tag: String) = nm.cancel(tag, Notifications.ID)

    /** After a reply from the notification failed: the same notification says why, silently. */
    fun replyFailed(tag: String, chatId: String, title: String, reason: String, pushJson: String) {
        val spec = NotificationSpec(tag, chatId, app.rapport.notify.Channel.MESSAGES, title, reason, 1, false, 0, emptyList())
        nm.notify(tag, Notifications.ID, build(spec, pushJson))
    }

    private fun build(spec: NotificationSpec, pushJson: String): Notification {
        val style = if (Build.VERSION.SDK_INT >= 28) {
            val me = Person.Builder().setName("You").build()
            val them = Person.Builder().setName(spec.title).setKey(spec.chatId).build()
            Notification.MessagingStyle(me).addMessage(spec.body, System.currentTimeMillis(), them)
        } else {
            @Suppress("DEPRECATION")
            Notification.MessagingStyle("You").addMessage(spec.body, System.currentTimeMillis(), spec.title)
        }
        style.conversationTitle = spec.title
        val code = spec.tag.hashCode()
        val open = Intent(context, MainActivity::class.java)
            .setAction(Notifications.ACTION_OPEN_CHAT)
            .putExtra(Notifications.EXTRA_PUSH, pushJson)
            .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_SINGLE_TOP)
        val builder = Notification.Builder(context, spec.channel.id)
            .setSmallIcon(android.R.drawable.sym_action_chat)
            .setStyle(style)
            .setContentTitle(spec.title)
            .setContentText(spec.body)
            .setNumber(spec.badge.toInt())
            .setOnlyAlertOnce(!spec.alert)
            .setAutoCancel(true)
            .setCategory(Notification.CATEGORY_MESSAGE)
            .setContentIntent(PendingIntent.getActivity(context, code, open, PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE))
        spec.actions.forEach { builder.addAction(action(it, spec, pushJson, code)) }
        return builder.build()
    }

    private fun action(a: ActionSpec, spec: NotificationSpec, pushJson: String, code: Int): Notification.Action {
        val intent = Intent(context, NotificationActionReceiver::class.java)
            .setAction(if (a.kind == ActionSpec.Kind.REPLY) Notifications.ACTION_REPLY else Notifications.ACTION_MARK_READ)
            .putExtra(Notifications.EXTRA_PUSH, pushJson)
            .putExtra(Notifications.EXTRA_CHAT, spec.chatId)
            .putExtra(Notifications.EXTRA_TAG, spec.tag)
        return when (a.kind) {
            ActionSpec.Kind.REPLY -> {
                // Mutable: the system adds the typed text to the intent.
                val pi = PendingIntent.getBroadcast(context, code, intent, PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_MUTABLE)
                val input = RemoteInput.Builder(a.remoteInputKey ?: Notifications.KEY_REPLY_TEXT).setLabel(a.label).build()
                Notification.Action.Builder(Icon.createWithResource(context, android.R.drawable.ic_menu_send), a.label, pi)
                    .addRemoteInput(input)
                    .setAllowGeneratedReplies(true)
                    .build()
            }
            ActionSpec.Kind.MARK_READ -> {
                val pi = PendingIntent.getBroadcast(context, code + 1, intent, PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE)
                Notification.Action.Builder(Icon.createWithResource(context, android.R.drawable.ic_menu_view), a.label, pi).build()
            }
        }
    }
}
