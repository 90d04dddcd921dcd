// Screen state: plain Kotlin classes holding StateFlows built from the core's
// Flows (Flows.kt), so a screen is testable off Android (android/desktop-test).
// No rule here: what may be sent, what is left to type, what a window allows,
// who can be assigned, all come from the core; these classes only hold what
// the agent typed and picked, and call the core with it. On Android a
// ViewModel only owns their lifetime (the scope).
package app.rapport.ui

import app.rapport.core.Action
import app.rapport.core.AssigneeFilter
import app.rapport.core.Bot
import app.rapport.core.BotFlow
import app.rapport.core.BotStats
import app.rapport.core.Capabilities
import app.rapport.core.ChatFilter
import app.rapport.core.ChatKind
import app.rapport.core.ChatSummary
import app.rapport.core.Countdowns
import app.rapport.core.CrmContact
import app.rapport.core.Deal
import app.rapport.core.Decision
import app.rapport.core.Member
import app.rapport.core.MessageTag
import app.rapport.core.MessagingApp
import app.rapport.core.Named
import app.rapport.core.NotificationSettings
import app.rapport.core.OutboxEntry
import app.rapport.core.OutboxState
import app.rapport.core.Outgoing
import app.rapport.core.PauseAction
import app.rapport.core.RapportClient
import app.rapport.core.RapportException
import app.rapport.core.StatusCounts
import app.rapport.core.StatusFilter
import app.rapport.core.Subscriber
import app.rapport.core.SubscriberChanges
import app.rapport.core.SyncState
import app.rapport.core.TextLeft
import app.rapport.core.TimelineItem
import app.rapport.core.UploadProgress
import app.rapport.core.chatFilter
import app.rapport.core.chatList
import app.rapport.core.counts
import app.rapport.core.io
import app.rapport.core.syncStates
import app.rapport.core.textLeft
import app.rapport.core.timeline
import app.rapport.core.timerEvents
import app.rapport.core.uploads
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flatMapLatest
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.mapLatest
import kotlinx.coroutines.flow.merge
import kotlinx.coroutines.flow.scan
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** Rows the inbox and the timeline add each time the agent nears their end. */
const val PAGE: UInt = 50u

/** Runs [call]; a typed error from the core goes to [message], shown as it is. */
internal fun CoroutineScope.attempt(
    message: MutableStateFlow<String?>,
    call: suspend () -> Unit,
) = launch {
    try {
        message.value = null
        call()
    } catch (e: RapportException) {
        message.value = describe(e)
    }
}

/** Changes of the synced store (each applied change moves `Live.at`): what re-reads follow. */
private fun RapportClient.changes() = syncStates().catch { }

/** Who the app logs in to: a Rapport server, or a SendPulse account directly (issue 17). */
enum class LoginMode { SERVER, SENDPULSE }

/**
 * Login (S5): a Rapport server (server, email, password) or, issue 17, a
 * SendPulse account directly (API URL, client id, client secret, the
 * agent's operator id if any); the core's typed errors shown plainly.
 */
class LoginModel(
    private val scope: CoroutineScope,
    defaultServer: String,
    /** Opens the client for a server or SendPulse API URL (the store and the secret store are the platform's). */
    private val open: suspend (serverUrl: String) -> RapportClient,
    private val onLoggedIn: (RapportClient) -> Unit,
) {
    val mode = MutableStateFlow(LoginMode.SERVER)
    val server = MutableStateFlow(defaultServer)
    val email = MutableStateFlow("")
    val password = MutableStateFlow("")
    val sendpulseUrl = MutableStateFlow(SENDPULSE_API)
    val clientId = MutableStateFlow("")
    val clientSecret = MutableStateFlow("")
    /** Optional: for assigning chats to oneself (D1). Digits only. */
    val operatorId = MutableStateFlow("")
    private val _busy = MutableStateFlow(false)
    val busy: StateFlow<Boolean> = _busy.asStateFlow()
    val error = MutableStateFlow<String?>(null)

    fun login() {
        if (_busy.value) return
        val sendpulse = mode.value == LoginMode.SENDPULSE
        val operator = operatorId.value.trim().takeIf { it.isNotEmpty() }
        val operatorNumber = operator?.toLongOrNull()
        if (sendpulse && operator != null && operatorNumber == null) {
            error.value = "The operator id is a number (or leave it empty)."
            return
        }
        _busy.value = true
        scope.launch {
            var client: RapportClient? = null
            try {
                error.value = null
                if (sendpulse) {
                    client = open(sendpulseUrl.value.trim())
                    client.loginSendpulse(clientId.value.trim(), clientSecret.value, operatorNumber)
                } else {
                    client = open(server.value.trim())
                    client.login(email.value.trim(), password.value)
                }
                client.io.startSync()
                onLoggedIn(client)
            } catch (e: RapportException) {
                client?.close()
                error.value = if (sendpulse && e is RapportException.NotLoggedIn) {
                    "SendPulse refused the client id or secret."
                } else {
                    describe(e)
                }
            } finally {
                _busy.value = false
            }
        }
    }

    companion object {
        /** SendPulse's API root, the SendPulse login's default. */
        const val SENDPULSE_API = "https://api.sendpulse.com"
    }
}

/** Inbox (A1–A6): status tabs with counts, filters, search, rows growing on scroll, the sync banner. */
@OptIn(ExperimentalCoroutinesApi::class)
/** What the inbox's controls ask for (A2–A6, S3's window, pull to refresh). */
interface InboxActions {
    fun status(s: StatusFilter)
    fun app(a: MessagingApp?)
    fun kind(k: ChatKind?)
    fun assignee(a: AssigneeFilter)
    fun search(text: String)
    fun more()
    fun refresh()
}

class InboxModel(private val client: RapportClient, scope: CoroutineScope) : InboxActions {
    val filter = MutableStateFlow(chatFilter(status = StatusFilter.OPEN))
    val limit = MutableStateFlow(PAGE)
    val message = MutableStateFlow<String?>(null)

    val rows: StateFlow<List<ChatSummary>?> = filter
        .flatMapLatest { f -> client.chatList(f, limit).catch { e -> report(e) } }
        .stateIn(scope, SharingStarted.Eagerly, null)

    /** A5: the counts of each status list under the other filters. */
    val counts: StateFlow<StatusCounts?> = filter
        .map { it.copy(status = StatusFilter.ALL) }
        .distinctUntilChanged()
        .flatMapLatest { f -> client.counts(f).catch { e -> report(e) } }
        .stateIn(scope, SharingStarted.Eagerly, null)

    val sync: StateFlow<SyncState> = client.syncStates().catch { e -> report(e) }
        .stateIn(scope, SharingStarted.Eagerly, SyncState.Idle)

    private val scope = scope

    private fun report(e: Throwable) {
        message.value = (e as? RapportException)?.let(::describe) ?: e.toString()
    }

    override fun status(s: StatusFilter) = update { it.copy(status = s) }
    override fun app(a: MessagingApp?) = update { it.copy(app = a) }
    override fun kind(k: ChatKind?) = update { it.copy(kind = k) }
    override fun assignee(a: AssigneeFilter) = update { it.copy(assignee = a) }
    override fun search(text: String) = update { it.copy(search = text.ifEmpty { null }) }

    private fun update(change: (ChatFilter) -> ChatFilter) {
        limit.value = PAGE
        filter.value = change(filter.value)
    }

    /** The list nears its end: ask the core for the next rows (S3's window). */
    override fun more() {
        val shown = rows.value?.size ?: return
        if (shown.toUInt() >= limit.value) limit.value = limit.value + PAGE
    }

    /** Pull to refresh: the outbox and sync retry at once. */
    override fun refresh() {
        scope.attempt(message) {
            client.io.appResumed()
            client.io.startSync()
        }
    }
}

/** What the composer shows for the draft (E1, E4, E5): the core's decision and counter. */
data class Composer(
    val text: String,
    val decision: Decision?,
    val left: TextLeft?,
)

/** Chat (B1–B10, C1, D1, E1–E7, F7, A8): the timeline, the composer, the header's actions. */
@OptIn(ExperimentalCoroutinesApi::class)
class ChatModel(
    private val client: RapportClient,
    private val scope: CoroutineScope,
    val chatId: String,
) {
    val limit = MutableStateFlow(PAGE)
    val draft = MutableStateFlow("")
    val message = MutableStateFlow<String?>(null)
    /** E5: the template name typed when the core offers a WhatsApp template instead. */
    val template = MutableStateFlow("")

    val timeline: StateFlow<List<TimelineItem>?> = client.timeline(chatId, limit)
        .catch { e -> message.value = (e as? RapportException)?.let(::describe) ?: e.toString() }
        .stateIn(scope, SharingStarted.Eagerly, null)

    /** The countdowns' display clock (E4, F7): a re-read each second while the chat shows. */
    private val clockTicks = kotlinx.coroutines.flow.flow { while (true) { emit(Unit); kotlinx.coroutines.delay(1_000) } }

    private val ticks = merge(
        client.changes().map { }, client.timerEvents().catch { }.map { }, timeline.map { }, clockTicks,
    )

    /** What the workspace's backend offers (issue 17): controls for the rest are hidden. */
    val capabilities: StateFlow<Capabilities?> = kotlinx.coroutines.flow.flow { emit(client.io.capabilities()) }
        .catch { }
        .stateIn(scope, SharingStarted.Eagerly, null)

    /** The header: state, assignee, pause (re-read as the store changes). */
    val summary: StateFlow<ChatSummary?> = ticks.mapLatest { client.io.chat(chatId) }
        .catch { }
        .stateIn(scope, SharingStarted.Eagerly, null)

    /** E4/F7: the window and the pause left, on server time. */
    val countdowns: StateFlow<Countdowns?> = ticks.mapLatest { client.io.countdowns(chatId) }
        .catch { }
        .stateIn(scope, SharingStarted.Eagerly, null)

    /** The server's clock now, with each re-read (a countdown is `closesAt - now`). */
    val serverNow: StateFlow<Long> = ticks.mapLatest { client.io.serverNow() }
        .catch { }
        .stateIn(scope, SharingStarted.Eagerly, 0L)

    /** E1/E4/E5: the core's decision on the draft, as the agent types. */
    val composer: StateFlow<Composer> = combine(draft, summary) { text, s -> text to s }
        .mapLatest { (text, s) ->
            Composer(
                text,
                runCatching { client.io.decide(chatId, Outgoing.Text(text)) }.getOrNull(),
                s?.let { textLeft(it.chat.app, text) },
            )
        }
        .stateIn(scope, SharingStarted.Eagerly, Composer("", null, null))

    /** E7: this chat's commands that failed, for retry or discard. */
    val failed: StateFlow<List<OutboxEntry>> = ticks.mapLatest {
        client.io.outbox().filter { it.chatId == chatId && it.state is OutboxState.Failed }
    }.catch { }.stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** E2: upload progress by the echo's message id. */
    val uploads: StateFlow<Map<String, UploadProgress>> = client.uploads().catch { }
        .scan(emptyMap<String, UploadProgress>()) { m, p ->
            val id = p.messageId ?: return@scan m
            if (p.sentBytes >= p.totalBytes) m - id else m + (id to p)
        }
        .stateIn(scope, SharingStarted.Eagerly, emptyMap())

    /** Every member of the workspace: the names of assignees, senders and note authors (B3, D1). */
    val members: StateFlow<List<Member>> = MutableStateFlow<List<Member>>(emptyList()).also { out ->
        scope.launch { runCatching { out.value = client.io.members(false) } }
    }

    /** D1: the members the core says may be assigned. */
    val assignable: StateFlow<List<Member>> = MutableStateFlow<List<Member>>(emptyList()).also { out ->
        scope.launch { runCatching { out.value = client.io.members(true) } }
    }

    init {
        // B10: opening the chat marks its subscriber messages read.
        scope.attempt(message) { client.io.runAction(Action.MarkRead(chatId)) }
    }

    /** E1: sends the draft as the core decided; a refusal keeps the draft and says why. */
    fun send() {
        val text = draft.value
        scope.attempt(message) {
            client.io.sendText(chatId, text)
            if (draft.value == text) draft.value = ""
        }
    }

    /** E5: outside the window, the pre-approved template instead. */
    fun sendTemplate() = scope.attempt(message) {
        client.io.sendTemplate(chatId, template.value.trim())
        template.value = ""
    }

    /** E5: outside the window, the draft with a Messenger message tag. */
    fun sendTagged(tag: MessageTag) {
        val text = draft.value
        scope.attempt(message) {
            client.io.sendTagged(chatId, tag, text)
            if (draft.value == text) draft.value = ""
        }
    }

    /** E2: a file from disk (on Android: `sendStream` of the picked URI). */
    fun sendFile(path: String, name: String) = scope.attempt(message) {
        client.io.sendFile(chatId, path, name, null, null)
    }

    fun retry(entry: OutboxEntry) = scope.attempt(message) { client.io.retry(entry.id) }
    fun discard(entry: OutboxEntry) = scope.attempt(message) { client.io.discard(entry.id) }

    /** E3/F7: pause, +60, continue. */
    fun pause(action: PauseAction) = run(Action.Pause(chatId, action))
    fun assign(member: String?) = run(Action.Assign(chatId, member))
    fun close() = run(Action.Close(chatId))
    fun reopen() = run(Action.Open(chatId))
    fun react(messageId: String, emoji: String?) = run(Action.React(chatId, messageId, emoji))
    fun edit(messageId: String, text: String) = run(Action.EditMessage(chatId, messageId, text))
    fun delete(messageId: String) = run(Action.DeleteMessage(chatId, messageId))
    fun addNote(text: String) = run(Action.AddNote(chatId, text))

    /** C1: the draft as an internal note (the team sees it, the subscriber never does). */
    fun noteDraft() {
        val text = draft.value
        scope.attempt(message) {
            client.io.runAction(Action.AddNote(chatId, text))
            if (draft.value == text) draft.value = ""
        }
    }

    private fun run(action: Action) = scope.attempt(message) { client.io.runAction(action) }

    /** B1: the agent scrolled to the top: a bigger window, and older history from the server. */
    fun older() {
        val items = timeline.value ?: return
        if (items.size.toUInt() < limit.value) {
            val oldest = items.firstNotNullOfOrNull { (it as? TimelineItem.Message)?.v1?.id }
            scope.attempt(message) {
                if (client.loadOlder(chatId, oldest, PAGE)) limit.value = limit.value + PAGE
            }
        } else {
            limit.value = limit.value + PAGE
        }
    }
}

/** Subscriber card (F1–F8) and CRM (G1–G3). */
@OptIn(ExperimentalCoroutinesApi::class)
class CardModel(
    private val client: RapportClient,
    private val scope: CoroutineScope,
    val subscriberId: String,
) {
    val message = MutableStateFlow<String?>(null)
    val flowQuery = MutableStateFlow("")

    private val changes = merge(kotlinx.coroutines.flow.flowOf(Unit), client.changes().map { })

    val subscriber: StateFlow<Subscriber?> = changes.mapLatest { client.io.subscriber(subscriberId) }
        .catch { }.stateIn(scope, SharingStarted.Eagerly, null)

    /** G1/G3: most recently updated first. */
    val deals: StateFlow<List<Deal>> = changes.mapLatest { client.io.deals(subscriberId) }
        .catch { }.stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** F6: flows by name as the agent types. */
    val flows: StateFlow<List<BotFlow>> = flowQuery
        .mapLatest { q -> runCatching { client.searchFlows(q) }.getOrDefault(emptyList()) }
        .stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** F5, F6, F8, G2: one edit through the outbox; the card shows it once synced. */
    fun edit(changes: SubscriberChanges) = scope.attempt(message) {
        val action = Action.EditSubscriber(subscriberId, changes)
        client.io.checkAction(action)
        client.io.runAction(action)
    }

    fun setVariable(name: String, value: String) = edit(SubscriberChanges(variables = mapOf(name to value)))
    fun addTag(tag: String) = edit(SubscriberChanges(addTags = listOf(tag)))
    fun removeTag(tag: String) = edit(SubscriberChanges(removeTags = listOf(tag)))
    fun startFlow(flow: BotFlow) = edit(SubscriberChanges(flowId = flow.id))
    fun stopFlow() = edit(SubscriberChanges(flowId = ""))
    fun disable() = edit(SubscriberChanges(disable = true))
    fun crm(contact: CrmContact) = edit(SubscriberChanges(crmContact = contact))

    /** G1. */
    fun addDeal(pipeline: Named, stage: Named, name: String, amountMinor: Long, currency: String) =
        run(Action.AddDeal(subscriberId, pipeline, stage, name, amountMinor, currency))

    /** G3: a new stage, name or amount. */
    fun editDeal(deal: Deal, stage: Named? = null, name: String? = null, amountMinor: Long? = null) =
        run(Action.EditDeal(deal.id, stage, name, amountMinor))

    /** G3: the stages a deal can move to: those its pipeline's deals are seen in (the core has no pipeline list). */
    fun stagesOf(deal: Deal): List<Named> =
        (deals.value.filter { it.pipeline.id == deal.pipeline.id }.map { it.stage } + deal.stage).distinct()

    private fun run(action: Action) = scope.attempt(message) {
        client.io.checkAction(action)
        client.io.runAction(action)
    }
}

/** Home (A7): the most recent messages across chats, each with its chat's status. */
@OptIn(ExperimentalCoroutinesApi::class)
class HomeModel(client: RapportClient, scope: CoroutineScope, limit: UInt = 30u) {
    val rows: StateFlow<List<ChatSummary>?> =
        merge(kotlinx.coroutines.flow.flowOf(Unit), client.changes().map { })
            .mapLatest { client.io.home(limit) }
            .catch { }.stateIn(scope, SharingStarted.Eagerly, null)
}

/** Statistics (I1): all bots together first, then each bot by name. */
@OptIn(ExperimentalCoroutinesApi::class)
class StatsModel(client: RapportClient, scope: CoroutineScope) {
    val rows: StateFlow<List<Pair<BotStats, Bot?>>?> =
        merge(kotlinx.coroutines.flow.flowOf(Unit), client.changes().map { })
            .mapLatest {
                val bots = client.io.bots().associateBy { it.id }
                client.io.stats().map { it to it.botId?.let(bots::get) }
            }
            .catch { }.stateIn(scope, SharingStarted.Eagerly, null)
}

/** Notification settings (H4): email, notifications bot, push, preview; as the server stored them. */
class SettingsModel(private val client: RapportClient, private val scope: CoroutineScope) {
    private val _settings = MutableStateFlow<NotificationSettings?>(null)
    val settings: StateFlow<NotificationSettings?> = _settings.asStateFlow()
    val message = MutableStateFlow<String?>(null)

    init {
        scope.attempt(message) { _settings.value = client.notificationSettings() }
    }

    fun set(change: (NotificationSettings) -> NotificationSettings) {
        val now = _settings.value ?: return
        scope.attempt(message) { _settings.value = client.setNotificationSettings(change(now)) }
    }
}
