package app.rapport.ui

import app.rapport.core.PushDecision
import app.rapport.core.PushKind
import app.rapport.core.RapportException
import app.rapport.core.Suppressed
import app.rapport.core.chatToOpen
import app.rapport.core.pushKind
import app.rapport.notify.ActionSpec
import app.rapport.notify.Channel
import app.rapport.notify.NotificationCommand
import app.rapport.notify.Notifications
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import org.junit.Test

/** The push handler's decisions to notification specs (pure Kotlin; the core's reads through the real library). */
class NotificationSpecTest {
    private val show = PushDecision.Show("chat:c1", "c1", "Ana 🌸", "¿Hay envío?", 1u, true, 3u)

    /** FCM's data map for a push of [kind] (its values are strings). */
    private fun data(kind: String, chat: String = "c1") = mapOf(
        "rapport" to """{"v":1,"kind":"$kind","workspace_id":"w","chat_id":"$chat","message_id":"m1",""" +
            """"seq":7,"sent_at":1,"title":"Ana \"🌸\"","preview":"line\nbreak"}""",
        "from" to "fcm",
    )

    @Test
    fun h2_h3_a_shown_push_is_one_notification_per_chat_with_reply_and_mark_read() {
        val post = assertIs<NotificationCommand.Post>(Notifications.command(show, PushKind.NEW_MESSAGE))
        val spec = post.spec
        assertEquals("chat:c1", spec.tag)
        assertEquals("c1", spec.chatId)
        assertEquals(Channel.MESSAGES, spec.channel)
        assertEquals("Ana 🌸", spec.title)
        assertEquals("¿Hay envío?", spec.body)
        assertEquals(true, spec.alert)
        assertEquals(3L, spec.badge, "H2: the badge is the unread chats")
        assertEquals(listOf(ActionSpec.Kind.REPLY, ActionSpec.Kind.MARK_READ), spec.actions.map { it.kind })
        assertEquals(Notifications.KEY_REPLY_TEXT, spec.actions.first().remoteInputKey)
        // A burst: the same tag, updated silently.
        val burst = show.copy(body = "2 new messages", count = 2u, alert = false)
        val again = assertIs<NotificationCommand.Post>(Notifications.command(burst, PushKind.NEW_MESSAGE)).spec
        assertEquals(spec.tag, again.tag)
        assertEquals(false, again.alert)
        assertEquals(2, again.count)
    }

    @Test
    fun d2_a_chat_opened_for_the_agent_has_its_own_channel() {
        val spec = assertIs<NotificationCommand.Post>(Notifications.command(show, PushKind.CHAT_OPENED)).spec
        assertEquals(Channel.CHATS_OPENED, spec.channel)
        assertEquals(2, Channel.entries.map { it.id }.toSet().size)
    }

    @Test
    fun b10_a_chat_read_elsewhere_cancels_its_notification_and_suppressed_shows_nothing() {
        val cancel = assertIs<NotificationCommand.Cancel>(
            Notifications.command(PushDecision.Remove("chat:c1", "c1", 2u), PushKind.CHAT_READ),
        )
        assertEquals("chat:c1", cancel.tag)
        assertEquals(2L, cancel.badge)
        val nothing = Notifications.command(PushDecision.Suppress(Suppressed.VIEWING, 4u), PushKind.NEW_MESSAGE)
        assertEquals(NotificationCommand.Nothing(4L), nothing)
    }

    @Test
    fun h2_the_data_map_reaches_the_core_as_json_it_reads() {
        // Quotes, emoji and a newline inside the payload survive the map -> JSON step.
        assertEquals("c1", chatToOpen(Notifications.dataJson(data("new_message"))))
        assertEquals(PushKind.NEW_MESSAGE, pushKind(Notifications.dataJson(data("new_message"))))
        assertEquals(PushKind.CHAT_OPENED, pushKind(Notifications.dataJson(data("chat_opened"))))
        assertEquals(PushKind.CHAT_READ, pushKind(Notifications.dataJson(data("chat_read"))))
        assertEquals(Channel.MESSAGES, Notifications.channel(PushKind.CHAT_READ))
        assertFailsWith<RapportException.InvalidArgument> { pushKind(Notifications.dataJson(mapOf("other" to "x"))) }
    }
}
