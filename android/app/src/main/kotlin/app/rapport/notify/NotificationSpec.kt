// The core's push decision (H2/H3, B10, D2) as a notification spec: pure
// Kotlin, tested on the JVM (android/desktop-test), drawn by the Android glue
// (app.rapport.android.Notifier) with Notification.MessagingStyle. The core
// decides what shows, batches and alerts; this only names the channel, the
// actions and the intents' extras, so a wrong mapping fails a JVM test.
package app.rapport.notify

import app.rapport.core.PushDecision
import app.rapport.core.PushKind

/** A channel per kind of push (Android lets the agent silence each one). */
enum class Channel(val id: String, val title: String, val high: Boolean) {
    /** H2: a subscriber wrote. */
    MESSAGES("messages", "New messages", true),

    /** D2: a chat assigned to the agent was opened by the subscriber. */
    CHATS_OPENED("chats_opened", "Chats opened for you", true),
}

/** A notification action: its label and, for a reply, the RemoteInput's key. */
data class ActionSpec(val kind: Kind, val label: String, val remoteInputKey: String? = null) {
    enum class Kind { REPLY, MARK_READ }
}

/** What one chat's notification shows (tag: one live notification per chat). */
data class NotificationSpec(
    val tag: String,
    val chatId: String,
    val channel: Channel,
    /** MessagingStyle's conversation: the subscriber's name. */
    val title: String,
    /** The preview, or "N new messages" (the core's words). */
    val body: String,
    val count: Int,
    /** false: updated silently (a burst), `setOnlyAlertOnce`. */
    val alert: Boolean,
    /** The badge: unread chats (`setNumber`). */
    val badge: Long,
    val actions: List<ActionSpec>,
)

/** What the glue does for a push. */
sealed interface NotificationCommand {
    val badge: Long

    data class Post(val spec: NotificationSpec) : NotificationCommand {
        override val badge get() = spec.badge
    }

    /** B10: the chat was read somewhere: its notification goes. */
    data class Cancel(val tag: String, val chatId: String, override val badge: Long) : NotificationCommand

    /** Nothing to show (viewing, muted, a duplicate, another workspace). */
    data class Nothing(override val badge: Long) : NotificationCommand
}

object Notifications {
    /** Every notification of a chat is posted with this id and its tag. */
    const val ID = 1
    const val KEY_REPLY_TEXT = "rapport.reply_text"
    const val EXTRA_CHAT = "rapport.chat_id"
    const val EXTRA_PUSH = "rapport.push_json"
    const val EXTRA_TAG = "rapport.tag"
    const val ACTION_REPLY = "app.rapport.action.REPLY"
    const val ACTION_MARK_READ = "app.rapport.action.MARK_READ"
    const val ACTION_OPEN_CHAT = "app.rapport.action.OPEN_CHAT"

    fun channel(kind: PushKind): Channel = when (kind) {
        PushKind.CHAT_OPENED -> Channel.CHATS_OPENED
        PushKind.NEW_MESSAGE, PushKind.CHAT_READ -> Channel.MESSAGES
    }

    /** The core's [decision] for a push of [kind], as what to post, cancel or leave. */
    fun command(decision: PushDecision, kind: PushKind): NotificationCommand = when (decision) {
        is PushDecision.Show -> NotificationCommand.Post(
            NotificationSpec(
                tag = decision.tag,
                chatId = decision.chatId,
                channel = channel(kind),
                title = decision.title,
                body = decision.body,
                count = decision.count.toInt(),
                alert = decision.alert,
                badge = decision.badge.toLong(),
                actions = listOf(
                    ActionSpec(ActionSpec.Kind.REPLY, "Reply", KEY_REPLY_TEXT),
                    ActionSpec(ActionSpec.Kind.MARK_READ, "Mark read"),
                ),
            ),
        )
        is PushDecision.Remove -> NotificationCommand.Cancel(decision.tag, decision.chatId, decision.badge.toLong())
        is PushDecision.Suppress -> NotificationCommand.Nothing(decision.badge.toLong())
    }

    /** FCM's data map as the JSON object the core reads (`show_push`, `push_kind`). */
    fun dataJson(data: Map<String, String>): String =
        data.entries.sortedBy { it.key }.joinToString(",", "{", "}") { (k, v) -> "${quote(k)}:${quote(v)}" }

    private fun quote(s: String): String {
        val b = StringBuilder(s.length + 2).append('"')
        for (c in s) {
            when {
                c == '"' -> b.append("\\\"")
                c == '\\' -> b.append("\\\\")
                c == '\n' -> b.append("\\n")
                c == '\r' -> b.append("\\r")
                c == '\t' -> b.append("\\t")
                c < ' ' -> b.append("\\u%04x".format(c.code))
                else -> b.append(c)
            }
        }
        return b.append('"').toString()
    }
}
