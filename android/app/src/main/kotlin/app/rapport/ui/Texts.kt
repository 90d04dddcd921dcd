// Words for what the core decided: presentation only (each case is the
// core's; this file only says it in English). No rule: nothing here decides.
package app.rapport.ui

import app.rapport.core.Alternative
import app.rapport.core.ChatStatus
import app.rapport.core.Content
import app.rapport.core.Cost
import app.rapport.core.Delivery
import app.rapport.core.LengthUnit
import app.rapport.core.MessageTag
import app.rapport.core.MessagingApp
import app.rapport.core.RapportException
import app.rapport.core.Refusal
import app.rapport.core.SyncState
import app.rapport.core.WindowState
import app.rapport.core.code
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter

/** A typed error of the core, said plainly (its code stays visible for support). */
fun describe(e: RapportException): String = when (e) {
    is RapportException.Refused -> refusal(e.reason)
    is RapportException.NotLoggedIn -> "Not logged in: the session ended. Log in again."
    is RapportException.Server -> when (e.code) {
        "unauthorized", "bad_credentials" -> "Wrong email or password."
        "rate_limited" -> "Too many attempts: wait a minute and try again."
        else -> "The server refused it (${e.code})."
    }
    is RapportException.Network -> "Cannot reach the server. Check the address and the connection."
    is RapportException.UnknownChat -> "This chat is gone."
    is RapportException.Store -> "The local store failed (${e.code})."
    is RapportException.InvalidArgument -> "Not valid: ${e.detail}"
    is RapportException.Busy -> "Busy: try again in a moment."
    is RapportException.Closed -> "Logged out."
    is RapportException.SecretStore -> "The device's secure storage failed."
    is RapportException.Internal -> "Something went wrong (${e.code})."
}

fun unit(u: LengthUnit): String = when (u) {
    LengthUnit.CHARACTERS -> "characters"
    LengthUnit.UTF16_UNITS -> "UTF-16 units"
    LengthUnit.UTF8_BYTES -> "bytes"
}

/** Why the core refused (E1–E6, B7/B8, D1, C1). */
fun refusal(r: Refusal): String = when (r) {
    is Refusal.TextEmpty -> "Type a message."
    is Refusal.TextTooLong -> "Too long: ${r.actual} of ${r.limit} ${unit(r.unit)}."
    is Refusal.AttachmentTooLarge -> "File too large: ${size(r.actualBytes)} of ${size(r.limitBytes)}."
    is Refusal.Executable -> "Executable files cannot be sent (${r.kind})."
    is Refusal.FileEmpty -> "The file is empty."
    is Refusal.NotAssignable -> "This member cannot be assigned conversations."
    is Refusal.WindowClosed -> "The reply window is closed" +
        (r.closedAt?.let { " since ${time(it)}" } ?: "") + "."
    is Refusal.NotSupported -> "${appName(r.app)} does not support this."
    is Refusal.WrongMessage -> "This message cannot be changed."
    is Refusal.TooOld -> "Too old: it could be changed until ${time(r.deadline)}."
    is Refusal.FieldTooLong -> "${r.field} too long: ${r.actual} of ${r.limit} ${unit(r.unit)}."
    is Refusal.NotOffered -> "This workspace's platform does not offer ${feature(r.feature)}."
}

/** A feature a backend may lack (Capabilities; issue 17: SendPulse). */
fun feature(name: String): String = when (name) {
    "edit_delete" -> "editing or deleting sent messages"
    "quotes" -> "reply quotes"
    "files" -> "sending files"
    "reactions" -> "reactions"
    "templates" -> "WhatsApp templates"
    "flows" -> "starting flows"
    "deals" -> "CRM deals"
    "notes" -> "internal notes"
    else -> name
}

fun alternative(a: Alternative): String = when (a) {
    is Alternative.WhatsappTemplate -> "Send a template"
    is Alternative.MessengerTag -> "Send with tag ${tag(a.v1)}"
}

fun tag(t: MessageTag): String = when (t) {
    MessageTag.HUMAN_AGENT -> "Human agent"
    MessageTag.CONFIRMED_EVENT_UPDATE -> "Event update"
    MessageTag.POST_PURCHASE_UPDATE -> "Post-purchase update"
    MessageTag.ACCOUNT_UPDATE -> "Account update"
}

fun cost(c: Cost): String? = when (c) {
    is Cost.Free -> null
    is Cost.FreeQuota -> "Free this month: ${c.remainingAfter} left after this"
    is Cost.Paid -> "Paid message"
}

/** E4: the window as the composer shows it ([now]: server time). */
fun window(w: WindowState, now: Long): String? = when (w) {
    is WindowState.Unlimited -> null
    is WindowState.Open -> "Window closes in ${duration(w.closesAt - now)}"
    is WindowState.Closed -> "Window closed"
}

fun duration(ms: Long): String {
    val m = (ms.coerceAtLeast(0) + 59_999) / 60_000
    return when {
        m >= 24 * 60 -> "${m / (24 * 60)}d ${(m / 60) % 24}h"
        m >= 60 -> "${m / 60}h ${m % 60}m"
        else -> "${m}m"
    }
}

fun appName(a: MessagingApp): String = when (a) {
    MessagingApp.TELEGRAM -> "Telegram"
    MessagingApp.WHATSAPP -> "WhatsApp"
    MessagingApp.INSTAGRAM -> "Instagram"
    MessagingApp.MESSENGER -> "Messenger"
    MessagingApp.VIBER -> "Viber"
    MessagingApp.LIVECHAT -> "Live chat"
}

/** A2: the app's mark on a row (a letter in the app's colour). */
fun appMark(a: MessagingApp): String = when (a) {
    MessagingApp.TELEGRAM -> "T"
    MessagingApp.WHATSAPP -> "W"
    MessagingApp.INSTAGRAM -> "I"
    MessagingApp.MESSENGER -> "M"
    MessagingApp.VIBER -> "V"
    MessagingApp.LIVECHAT -> "L"
}

fun statusName(s: ChatStatus): String = when (s) {
    ChatStatus.OPEN -> "open"
    ChatStatus.UNREAD -> "unread"
    ChatStatus.CLOSED -> "closed"
}

/** B5: one grey tick, two grey ticks, two blue ticks. */
fun ticks(d: Delivery?): String = when (d) {
    null -> ""
    Delivery.PENDING -> "🕓"
    Delivery.SENT -> "✓"
    Delivery.DELIVERED, Delivery.READ -> "✓✓"
    Delivery.FAILED -> "!"
}

fun preview(c: Content): String = when (c) {
    is Content.Text -> c.text
    is Content.ButtonPress -> "▸ ${c.label}"
    is Content.Attachment -> "📎 ${c.v1.name}"
    is Content.AdClick -> "Ad: ${c.ad.name}"
    is Content.StoryMention -> "Story mention"
    is Content.Template -> c.text
}

fun syncBanner(s: SyncState): String? = when (s) {
    is SyncState.Offline -> "Offline: replies are kept and go out when the connection returns."
    is SyncState.Failed -> "Sync stopped (${s.code})."
    is SyncState.Snapshot -> "Loading the workspace…"
    is SyncState.CatchingUp -> "Catching up…"
    else -> null
}

fun size(bytes: ULong): String = when {
    bytes >= 1_048_576u -> "%.1f MB".format(bytes.toDouble() / 1_048_576)
    bytes >= 1024u -> "${bytes / 1024u} KB"
    else -> "$bytes B"
}

private val clock = DateTimeFormatter.ofPattern("HH:mm").withZone(ZoneId.systemDefault())
private val day = DateTimeFormatter.ofPattern("d MMM HH:mm").withZone(ZoneId.systemDefault())

fun time(ms: Long): String = clock.format(Instant.ofEpochMilli(ms))
fun dayTime(ms: Long): String = day.format(Instant.ofEpochMilli(ms))
fun money(minor: Long, currency: String): String = "%d.%02d %s".format(minor / 100, Math.floorMod(minor, 100L), currency)
