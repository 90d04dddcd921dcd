// The chat (B1–B10, C1, D1, E1–E7, F7, A8): the timeline, older history on
// scroll up, the composer with the core's decision, the header's actions.
package app.rapport.ui

import androidx.compose.foundation.ExperimentalFoundationApi
import androidx.compose.foundation.background
import androidx.compose.foundation.clickable
import androidx.compose.foundation.combinedClickable
import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.widthIn
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Button
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontStyle
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import app.rapport.core.Alternative
import app.rapport.core.ChatState
import app.rapport.core.Content
import app.rapport.core.Decision
import app.rapport.core.Delivery
import app.rapport.core.Member
import app.rapport.core.Message
import app.rapport.core.Note
import app.rapport.core.OutboxState
import app.rapport.core.PauseAction
import app.rapport.core.ReactionBy
import app.rapport.core.Sender
import app.rapport.core.TimelineItem
import app.rapport.core.UploadProgress

@Composable
fun ChatScreen(model: ChatModel, openCard: (String) -> Unit = {}, back: () -> Unit = {}) {
    val items by model.timeline.collectAsState()
    val summary by model.summary.collectAsState()
    val countdowns by model.countdowns.collectAsState()
    val now by model.serverNow.collectAsState()
    val composer by model.composer.collectAsState()
    val failed by model.failed.collectAsState()
    val uploads by model.uploads.collectAsState()
    val members by model.members.collectAsState()
    val assignable by model.assignable.collectAsState()
    val message by model.message.collectAsState()
    val names = members.associate { it.id to it.name }
    Column(Modifier.fillMaxSize()) {
        // Header: who, the pause (E3/F7), assign (D1), close/open (A8).
        Surface(tonalElevation = 2.dp) {
            Column(Modifier.fillMaxWidth().padding(8.dp)) {
                Row(verticalAlignment = Alignment.CenterVertically) {
                    TextButton(back, Modifier.testTag("back")) { Text("‹") }
                    summary?.let { AppMark(it.chat.app) }
                    Text(
                        summary?.chat?.title ?: "", Modifier.weight(1f).padding(start = 8.dp)
                            .clickable { summary?.let { openCard(it.chat.subscriberId) } }
                            .testTag("chat-title"),
                        fontWeight = FontWeight.Bold,
                    )
                    summary?.let { StatusDot(it.status) }
                }
                Row(
                    Modifier.horizontalScroll(rememberScrollState()),
                    horizontalArrangement = Arrangement.spacedBy(6.dp),
                    verticalAlignment = Alignment.CenterVertically,
                ) {
                    val pauseLeft = countdowns?.pauseLeftMs
                    if (pauseLeft != null && pauseLeft > 0) {
                        Text("Bot paused: ${duration(pauseLeft)}", Modifier.testTag("pause-left"))
                        OutlinedButton({ model.pause(PauseAction.EXTEND) }, Modifier.testTag("extend")) { Text("+60") }
                        OutlinedButton({ model.pause(PauseAction.CONTINUE) }, Modifier.testTag("continue")) { Text("Continue") }
                    } else {
                        OutlinedButton({ model.pause(PauseAction.START) }, Modifier.testTag("pause")) { Text("Pause") }
                    }
                    AssignButton(summary?.chat?.assignee?.let { names[it] ?: it }, assignable) { model.assign(it) }
                    if (summary?.chat?.state == ChatState.CLOSED) {
                        OutlinedButton({ model.reopen() }, Modifier.testTag("reopen")) { Text("Open") }
                    } else {
                        OutlinedButton({ model.close() }, Modifier.testTag("close")) { Text("Close") }
                    }
                    TextButton({ summary?.let { openCard(it.chat.subscriberId) } }, Modifier.testTag("open-card")) { Text("Card") }
                }
            }
        }
        MessageLine(message)
        // The timeline, newest at the bottom; older history as the agent scrolls up (B1).
        val state = rememberLazyListState()
        OnNearEnd(state, margin = 5) { model.older() }
        // A new item at the bottom (a reply's echo, a subscriber's message) stays in view when the
        // agent was at the bottom: the list keeps its place by key, so it would open below the fold.
        val newest = items?.lastOrNull()?.let { itemKey(it) }
        LaunchedEffect(newest) { if (newest != null && state.firstVisibleItemIndex <= 1) state.scrollToItem(0) }
        LazyColumn(
            Modifier.weight(1f).fillMaxWidth().testTag("timeline"), state = state, reverseLayout = true,
        ) {
            items((items ?: emptyList()).asReversed(), key = { itemKey(it) }) { item ->
                when (item) {
                    is TimelineItem.Message -> MessageBubble(item.v1, names, uploads[item.v1.id], model)
                    is TimelineItem.Note -> NoteCard(item.v1, names)
                }
            }
        }
        // E7: what failed, with retry or discard.
        failed.forEach { entry ->
            val state = entry.state as? OutboxState.Failed
            Row(
                Modifier.fillMaxWidth().background(Color(0xFFFFEBEE)).padding(8.dp).testTag("failed-${entry.id}"),
                verticalAlignment = Alignment.CenterVertically,
            ) {
                Text("Not sent (${state?.code ?: ""})", Modifier.weight(1f))
                TextButton({ model.retry(entry) }, Modifier.testTag("retry-${entry.id}")) { Text("Retry") }
                TextButton({ model.discard(entry) }, Modifier.testTag("discard-${entry.id}")) { Text("Discard") }
            }
        }
        ComposerBar(model, composer, countdowns?.window?.let { window(it, now) })
    }
}

private fun itemKey(item: TimelineItem): String = when (item) {
    is TimelineItem.Message -> "m:${item.v1.id}"
    is TimelineItem.Note -> "n:${item.v1.id}"
}

@OptIn(ExperimentalFoundationApi::class)
private fun Modifier.combinedClickableOrClick(onClick: () -> Unit, onLong: (() -> Unit)? = null): Modifier =
    combinedClickable(onClick = onClick, onLongClick = onLong)

@Composable
private fun AssignButton(current: String?, members: List<Member>, assign: (String?) -> Unit) {
    var open by remember { mutableStateOf(false) }
    Box {
        OutlinedButton({ open = true }, Modifier.testTag("assign")) { Text(current?.let { "Assigned: $it" } ?: "Assign") }
        DropdownMenu(open, { open = false }) {
            DropdownMenuItem({ Text("Nobody") }, { open = false; assign(null) }, Modifier.testTag("assign-none"))
            members.forEach { m ->
                DropdownMenuItem({ Text(m.name) }, { open = false; assign(m.id) }, Modifier.testTag("assign-${m.id}"))
            }
        }
    }
}

/** B9: who sent it: the bot, a third-party app, or a member by name. */
private fun senderLabel(s: Sender, names: Map<String, String>): String? = when (s) {
    is Sender.Subscriber -> null
    is Sender.Bot -> "Bot"
    is Sender.ThirdPartyApp -> "Third-party app"
    is Sender.Member -> names[s.v1] ?: "Team member"
}

@Composable
private fun MessageBubble(m: Message, names: Map<String, String>, upload: UploadProgress?, model: ChatModel) {
    val inbound = m.sender is Sender.Subscriber
    var menu by remember { mutableStateOf(false) }
    var editing by remember { mutableStateOf<String?>(null) }
    Box(Modifier.fillMaxWidth().padding(8.dp, 3.dp), contentAlignment = if (inbound) Alignment.CenterStart else Alignment.CenterEnd) {
        Column(
            Modifier.widthIn(max = 300.dp)
                .background(if (inbound) Color(0xFFF1F3F4) else Color(0xFFDCE8FF), RoundedCornerShape(12.dp))
                .combinedClickableOrClick(onClick = {}, onLong = { menu = true })
                .padding(10.dp)
                .testTag("msg-${m.id}"),
        ) {
            senderLabel(m.sender, names)?.let {
                Text(it, style = MaterialTheme.typography.labelSmall, color = MaterialTheme.colorScheme.secondary)
            }
            m.inReplyToAd?.let { Text("In response to the ad ${it.name}", fontSize = 11.sp, fontStyle = FontStyle.Italic) }
            m.quote?.let { q ->
                Text("❝ ${q.text}", Modifier.background(Color(0x11000000)).padding(4.dp), fontSize = 12.sp, maxLines = 2)
            }
            if (m.deletedAt != null) {
                Text("Message deleted", fontStyle = FontStyle.Italic, color = Color.Gray)
            } else {
                MessageContent(m.content)
            }
            if (upload != null) {
                LinearProgressIndicator(
                    progress = { upload.sentBytes.toFloat() / upload.totalBytes.coerceAtLeast(1u).toFloat() },
                    modifier = Modifier.fillMaxWidth().testTag("upload-${m.id}"),
                )
            }
            if (m.reactions.isNotEmpty()) {
                Text(m.reactions.joinToString(" ") { it.emoji + if (it.by is ReactionBy.Member) "·" else "" }, Modifier.testTag("reactions-${m.id}"))
            }
            Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                if (m.editedAt != null) Text("edited", fontSize = 10.sp, color = Color.Gray)
                Text(time(m.sentAt), fontSize = 10.sp, color = Color.Gray)
                Text(
                    ticks(m.delivery), fontSize = 10.sp, modifier = Modifier.testTag("ticks-${m.id}"),
                    color = if (m.delivery == Delivery.READ) Color(0xFF2F80ED) else Color.Gray,
                )
            }
        }
        // B7/B8 from a long press: the core refuses what the app does not allow.
        // Issue 17: what the workspace's platform does not offer is not shown.
        val offered by model.capabilities.collectAsState()
        DropdownMenu(menu, { menu = false }) {
            if (offered?.reactions != false) {
                listOf("👍", "❤️", "😂").forEach { e ->
                    DropdownMenuItem({ Text("React $e") }, { menu = false; model.react(m.id, e) }, Modifier.testTag("react-$e"))
                }
            }
            if (offered?.editDelete != false) {
                DropdownMenuItem({ Text("Edit") }, { menu = false; editing = (m.content as? Content.Text)?.text ?: "" }, Modifier.testTag("edit"))
                DropdownMenuItem({ Text("Delete") }, { menu = false; model.delete(m.id) }, Modifier.testTag("delete"))
            }
        }
    }
    editing?.let { text ->
        Row(Modifier.fillMaxWidth().padding(8.dp)) {
            OutlinedTextField(text, { editing = it }, Modifier.weight(1f).testTag("edit-text"))
            TextButton({ model.edit(m.id, text); editing = null }, Modifier.testTag("edit-save")) { Text("Save") }
        }
    }
}

/** B2–B4: buttons, attachments (name, size, type, download), ad clicks, story mentions, templates. */
@Composable
private fun MessageContent(c: Content) {
    when (c) {
        is Content.Text -> Text(c.text)
        is Content.ButtonPress -> Text("▸ ${c.label}", fontWeight = FontWeight.Medium)
        is Content.Attachment -> Column {
            Text("📎 ${c.v1.name}", fontWeight = FontWeight.Medium)
            Text("${size(c.v1.sizeBytes)} · ${c.v1.mime}", fontSize = 11.sp, color = Color.DarkGray)
            c.v1.caption?.let { Text(it) }
            if (c.v1.url != null) Text("Download", color = MaterialTheme.colorScheme.primary, fontSize = 12.sp)
        }
        is Content.AdClick -> Column {
            Text("Came from the ad ${c.ad.name}", fontStyle = FontStyle.Italic, fontSize = 12.sp)
            c.text?.let { Text(it) }
        }
        is Content.StoryMention -> Text("Mentioned you in a story", fontStyle = FontStyle.Italic)
        is Content.Template -> Column {
            Text("Template ${c.name}", fontSize = 11.sp, color = Color.DarkGray)
            Text(c.text)
        }
    }
}

/** C1: notes drawn apart: never sent to the subscriber. */
@Composable
private fun NoteCard(n: Note, names: Map<String, String>) {
    Column(
        Modifier.fillMaxWidth().padding(24.dp, 4.dp).background(Color(0xFFFFF8E1), RoundedCornerShape(8.dp))
            .padding(8.dp).testTag("note-${n.id}"),
    ) {
        Text("Note · ${names[n.author] ?: n.author} · ${time(n.createdAt)}", fontSize = 11.sp, color = Color(0xFF8D6E63))
        Text(n.text)
    }
}

/** E1/E4/E5: the draft, what is left, the window, the core's refusal and what to send instead. */
@Composable
private fun ComposerBar(model: ChatModel, composer: Composer, window: String?) {
    val template by model.template.collectAsState()
    val draft by model.draft.collectAsState()
    Surface(tonalElevation = 3.dp) {
        Column(Modifier.fillMaxWidth().padding(8.dp)) {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                window?.let { Text(it, fontSize = 12.sp, modifier = Modifier.testTag("window")) }
                composer.left?.let {
                    Text("${it.left} ${unit(it.unit)} left", fontSize = 12.sp, modifier = Modifier.testTag("left"),
                        color = if (it.left < 0) MaterialTheme.colorScheme.error else Color.Gray)
                }
                (composer.decision as? Decision.Allowed)?.let { d ->
                    cost(d.cost)?.let { Text(it, fontSize = 12.sp, modifier = Modifier.testTag("cost")) }
                }
            }
            val refused = composer.decision as? Decision.Refused
            if (refused != null && composer.text.isNotEmpty()) {
                Text(refusal(refused.reason), color = MaterialTheme.colorScheme.error, modifier = Modifier.testTag("reason"))
                refused.instead.forEachIndexed { i, alt ->
                    when (alt) {
                        is Alternative.WhatsappTemplate -> Row(verticalAlignment = Alignment.CenterVertically) {
                            OutlinedTextField(template, { model.template.value = it }, Modifier.weight(1f).testTag("template-name"),
                                placeholder = { Text("Template name") }, singleLine = true)
                            AssistChip({ model.sendTemplate() }, { Text(alternative(alt)) }, Modifier.testTag("alt-$i"))
                        }
                        is Alternative.MessengerTag -> AssistChip({ model.sendTagged(alt.v1) }, { Text(alternative(alt)) }, Modifier.testTag("alt-$i"))
                    }
                }
            }
            Row(verticalAlignment = Alignment.CenterVertically) {
                OutlinedTextField(
                    draft,
                    { model.draft.value = it }, Modifier.weight(1f).testTag("composer"),
                    placeholder = { Text("Reply") },
                )
                // C1: the draft as an internal note, where the workspace's platform offers notes.
                val offered by model.capabilities.collectAsState()
                if (offered?.notes != false) {
                    TextButton(
                        { model.noteDraft() }, Modifier.padding(start = 4.dp).testTag("note"),
                        enabled = draft.isNotBlank(),
                    ) { Text("Note") }
                }
                Button(
                    { model.send() }, Modifier.padding(start = 6.dp).testTag("send"),
                    enabled = composer.decision is Decision.Allowed && composer.text == draft,
                ) { Text("Send") }
            }
        }
    }
}
