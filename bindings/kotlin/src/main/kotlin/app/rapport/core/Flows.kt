// The idiomatic layer over the generated bindings (rapport.kt): listeners as
// Flows, every blocking call as a suspend function (`client.io`), filters
// with defaults, error codes, files sent from disk. No logic: every rule is
// in the Rust core. Plain Kotlin and kotlinx.coroutines only: the Android
// module (android/rapport-core) compiles this same file.
package app.rapport.core

import java.io.File
import java.io.InputStream
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.drop
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.flow.scan
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** A chat-list filter (A2-A6); the default shows every chat. */
fun chatFilter(
    app: MessagingApp? = null,
    kind: ChatKind? = null,
    assignee: AssigneeFilter = AssigneeFilter.ALL,
    status: StatusFilter = StatusFilter.ALL,
    search: String? = null,
) = ChatFilter(app, kind, assignee, status, search)

/** The stable code of an error (`window_closed`, `network`, ...). */
val RapportException.code: String get() = errorCode(this)

/**
 * A subscription as a Flow: collecting subscribes (the listener's first call
 * is the initial value), cancelling the collector cancels and frees the
 * handle; a subscription the core refuses fails the Flow with its
 * [RapportException]. Subscribing reads the store: it runs on
 * Dispatchers.IO, whatever the collector's thread. Unbounded buffer: a diff
 * is never dropped, or the list would drift.
 *
 * [limit]: a list's window (S3), followed while the Flow is collected: each
 * new value grows or shrinks it through the handle's `setLimit`, so a list
 * that scrolls asks for more rows without subscribing again.
 */
private fun <T> windowed(
    limit: StateFlow<UInt>?,
    subscribe: (limit: UInt, emit: (T) -> Unit) -> TaskHandle,
): Flow<T> =
    callbackFlow {
        var applied = limit?.value ?: 0u
        val handle = subscribe(applied) { value -> trySend(value) }
        if (limit != null) {
            launch {
                limit.collect { wanted ->
                    if (wanted != applied) {
                        try {
                            handle.setLimit(wanted)
                            applied = wanted
                        } catch (e: RapportException) {
                            close(e)
                        }
                    }
                }
            }
        }
        awaitClose { handle.use { it.cancel() } }
    }.buffer(Channel.UNLIMITED).flowOn(Dispatchers.IO)

private fun <T> subscription(subscribe: (emit: (T) -> Unit) -> TaskHandle): Flow<T> =
    windowed(null) { _, emit -> subscribe(emit) }

/** S3: batches of diffs of the first [limit] rows under [filter]. */
fun RapportClient.chatListDiffs(filter: ChatFilter, limit: UInt): Flow<List<ChatListDiff>> =
    subscription { emit -> subscribeChatList(filter, limit, chatListListener(emit)) }

/** S3: as [chatListDiffs], the window following [limit] as the list scrolls. */
fun RapportClient.chatListDiffs(filter: ChatFilter, limit: StateFlow<UInt>): Flow<List<ChatListDiff>> =
    windowed(limit) { first, emit -> subscribeChatList(filter, first, chatListListener(emit)) }

private fun chatListListener(emit: (List<ChatListDiff>) -> Unit) = object : ChatListListener {
    override fun onDiffs(diffs: List<ChatListDiff>) = emit(diffs)
}

/** S3: the list itself, after each batch of diffs. */
fun RapportClient.chatList(filter: ChatFilter, limit: UInt): Flow<List<ChatSummary>> =
    chatListDiffs(filter, limit).applyChatList()

/**
 * S3: the list itself, its window following [limit]: raise it when the list
 * scrolls near its end (`limit.value += 50u`), lower it to let rows go.
 */
fun RapportClient.chatList(filter: ChatFilter, limit: StateFlow<UInt>): Flow<List<ChatSummary>> =
    chatListDiffs(filter, limit).applyChatList()

private fun Flow<List<ChatListDiff>>.applyChatList(): Flow<List<ChatSummary>> =
    applyDiffs { list, d ->
        when (d) {
            is ChatListDiff.Reset -> { list.clear(); list.addAll(d.values) }
            is ChatListDiff.Insert -> list.add(d.index.toInt(), d.value)
            is ChatListDiff.Set -> list[d.index.toInt()] = d.value
            is ChatListDiff.Remove -> list.removeAt(d.index.toInt())
        }
    }

/** B1/C1: batches of diffs of a chat's newest [limit] items, oldest first. */
fun RapportClient.timelineDiffs(chat: ChatId, limit: UInt): Flow<List<TimelineDiff>> =
    subscription { emit -> subscribeTimeline(chat, limit, timelineListener(emit)) }

/** B1/C1: as [timelineDiffs], the window following [limit] as the agent scrolls up. */
fun RapportClient.timelineDiffs(chat: ChatId, limit: StateFlow<UInt>): Flow<List<TimelineDiff>> =
    windowed(limit) { first, emit -> subscribeTimeline(chat, first, timelineListener(emit)) }

private fun timelineListener(emit: (List<TimelineDiff>) -> Unit) = object : TimelineListener {
    override fun onDiffs(diffs: List<TimelineDiff>) = emit(diffs)
}

/** B1/C1: the timeline itself, after each batch of diffs. */
fun RapportClient.timeline(chat: ChatId, limit: UInt): Flow<List<TimelineItem>> =
    timelineDiffs(chat, limit).applyTimeline()

/**
 * B1/C1: the timeline itself, its window following [limit] (older items
 * come in at the top as it grows; what the store lacks, `io.loadOlder`
 * fetches from the server).
 */
fun RapportClient.timeline(chat: ChatId, limit: StateFlow<UInt>): Flow<List<TimelineItem>> =
    timelineDiffs(chat, limit).applyTimeline()

private fun Flow<List<TimelineDiff>>.applyTimeline(): Flow<List<TimelineItem>> =
    applyDiffs { list, d ->
        when (d) {
            is TimelineDiff.Reset -> { list.clear(); list.addAll(d.values) }
            is TimelineDiff.Insert -> list.add(d.index.toInt(), d.value)
            is TimelineDiff.Set -> list[d.index.toInt()] = d.value
            is TimelineDiff.Remove -> list.removeAt(d.index.toInt())
        }
    }

/** A5: the live counts of the status lists under [filter]. */
fun RapportClient.counts(filter: ChatFilter): Flow<StatusCounts> =
    subscription { emit ->
        subscribeCounts(filter, object : CountsListener {
            override fun onCounts(counts: StatusCounts) = emit(counts)
        })
    }

/** S2: the sync state now, then each change. */
fun RapportClient.syncStates(): Flow<SyncState> =
    subscription { emit ->
        subscribeSyncState(object : SyncStateListener {
            override fun onState(state: SyncState) = emit(state)
        })
    }

/** E2: upload progress of the outbox's attachments, one value per part. */
fun RapportClient.uploads(): Flow<UploadProgress> =
    subscription { emit ->
        subscribeUploads(object : UploadListener {
            override fun onProgress(progress: UploadProgress) = emit(progress)
        })
    }

/** S4: deadline events as they happen. */
fun RapportClient.timerEvents(): Flow<TimerEvent> =
    subscription { emit ->
        subscribeTimers(object : TimerListener {
            override fun onTimer(event: TimerEvent) = emit(event)
        })
    }

private fun <D, T> Flow<List<D>>.applyDiffs(apply: (MutableList<T>, D) -> Unit): Flow<List<T>> =
    scan(ArrayList<T>() as List<T>) { list, diffs ->
        val next = ArrayList(list)
        diffs.forEach { apply(next, it) }
        next
    }.drop(1)


// Blocking calls off the main thread. Every blocking export of
// RapportClient and NotificationClient has a suspend twin of the same name
// and parameters under `io` (LayersTest checks that none is missing), run on
// Dispatchers.IO: a screen calls `client.io.sendText(chat, text)`, never
// `client.sendText` from the main thread. The subscriptions are the Flows
// above; the exports that are already `suspend` need no twin.

/** The suspend twins of [RapportClient]'s blocking calls, on Dispatchers.IO. */
val RapportClient.io: RapportClientIo get() = RapportClientIo(this)

/** The suspend twins of [NotificationClient]'s blocking calls, on Dispatchers.IO. */
val NotificationClient.io: NotificationClientIo get() = NotificationClientIo(this)

private suspend inline fun <R> onIo(crossinline call: () -> R): R = withContext(Dispatchers.IO) { call() }

/** Opens the store (a disk read: off the main thread) and the saved session; no network. */
suspend fun openRapportClient(storePath: String, serverUrl: String, secrets: SecretStore): RapportClient =
    onIo { RapportClient(storePath, serverUrl, secrets) }

/** H2/H3: the notification process's client, opened off the main thread. */
suspend fun openNotificationClient(storePath: String, serverUrl: String, secrets: SecretStore): NotificationClient =
    onIo { NotificationClient(storePath, serverUrl, secrets) }

class RapportClientIo(private val c: RapportClient) {
    suspend fun loginInfo() = onIo { c.loginInfo() }
    suspend fun isSendpulse() = onIo { c.isSendpulse() }
    suspend fun startSync() = onIo { c.startSync() }
    suspend fun stopSync() = onIo { c.stopSync() }
    suspend fun syncState() = onIo { c.syncState() }
    suspend fun serverNow() = onIo { c.serverNow() }
    suspend fun chatPage(filter: ChatFilter, after: ChatCursor?, limit: UInt) = onIo { c.chatPage(filter, after, limit) }
    suspend fun statusCounts(filter: ChatFilter) = onIo { c.statusCounts(filter) }
    suspend fun chat(chat: ChatId) = onIo { c.chat(chat) }
    suspend fun home(limit: UInt) = onIo { c.home(limit) }
    suspend fun timelinePage(chat: ChatId, before: TimelineCursor?, limit: UInt) =
        onIo { c.timelinePage(chat, before, limit) }
    suspend fun members(assignableOnly: Boolean) = onIo { c.members(assignableOnly) }
    suspend fun bots() = onIo { c.bots() }
    suspend fun stats() = onIo { c.stats() }
    suspend fun decide(chat: ChatId, outgoing: Outgoing) = onIo { c.decide(chat, outgoing) }
    suspend fun countdowns(chat: ChatId) = onIo { c.countdowns(chat) }
    suspend fun sendText(chat: ChatId, text: String) = onIo { c.sendText(chat, text) }
    suspend fun sendTextKeyed(chat: ChatId, text: String, key: String) = onIo { c.sendTextKeyed(chat, text, key) }
    suspend fun sendAttachment(chat: ChatId, name: String, bytes: ByteArray, caption: String?, key: String?) =
        onIo { c.sendAttachment(chat, name, bytes, caption, key) }
    suspend fun sendFile(chat: ChatId, path: String, name: String?, caption: String?, key: String?) =
        onIo { c.sendFile(chat, path, name, caption, key) }
    suspend fun sendTemplate(chat: ChatId, name: String) = onIo { c.sendTemplate(chat, name) }
    suspend fun sendTagged(chat: ChatId, tag: MessageTag, text: String) = onIo { c.sendTagged(chat, tag, text) }
    suspend fun runAction(action: Action) = onIo { c.runAction(action) }
    suspend fun checkAction(action: Action) = onIo { c.checkAction(action) }
    suspend fun capabilities() = onIo { c.capabilities() }
    suspend fun outbox() = onIo { c.outbox() }
    suspend fun retry(outboxId: Long) = onIo { c.retry(outboxId) }
    suspend fun discard(outboxId: Long) = onIo { c.discard(outboxId) }
    suspend fun setMuted(chat: ChatId, muted: Boolean) = onIo { c.setMuted(chat, muted) }
    suspend fun isMuted(chat: ChatId) = onIo { c.isMuted(chat) }
    // The screens' reads (issue 13 §1).
    suspend fun subscriber(id: SubscriberId) = onIo { c.subscriber(id) }
    suspend fun deals(subscriber: SubscriberId) = onIo { c.deals(subscriber) }
    suspend fun deal(id: DealId) = onIo { c.deal(id) }
    suspend fun viberMonth(chat: ChatId) = onIo { c.viberMonth(chat) }
    suspend fun viberBotMonth(bot: BotId) = onIo { c.viberBotMonth(bot) }
    suspend fun me() = onIo { c.me() }
    suspend fun unsentCommands() = onIo { c.unsentCommands() }
    suspend fun timelineItem(chat: ChatId, id: TimelineItemId) = onIo { c.timelineItem(chat, id) }
    // H2/H3 in the app's own process (one process or two).
    suspend fun showPush(platformJson: String, viewing: ChatId?) = onIo { c.showPush(platformJson, viewing) }
    suspend fun appResumed() = onIo { c.appResumed() }
}

class NotificationClientIo(private val c: NotificationClient) {
    suspend fun show(platformJson: String, viewing: ChatId?) = onIo { c.show(platformJson, viewing) }
    suspend fun reply(platformJson: String, text: String, key: String) = onIo { c.reply(platformJson, text, key) }
    suspend fun markRead(platformJson: String, key: String) = onIo { c.markRead(platformJson, key) }
    suspend fun cancel() = onIo { c.cancel() }
}

// Shortcuts with defaults, for the common calls.

suspend fun RapportClient.page(
    filter: ChatFilter = chatFilter(),
    after: ChatCursor? = null,
    limit: UInt = 50u,
): ChatPage = io.chatPage(filter, after, limit)

suspend fun RapportClient.timelinePageOf(
    chat: ChatId,
    before: TimelineCursor? = null,
    limit: UInt = 50u,
): TimelinePage = io.timelinePage(chat, before, limit)

/** E1/E7: stores the reply with its local echo and queues it. */
suspend fun RapportClient.send(chat: ChatId, text: String): MessageId = io.sendText(chat, text)

/**
 * E2: sends [file]. The core reads it (its bytes never cross JNA as one
 * array), refuses one too large for any app before reading it, and checks
 * it as `sendAttachment` does. [name]: what the subscriber sees.
 */
suspend fun RapportClient.sendFile(
    chat: ChatId,
    file: File,
    caption: String? = null,
    key: String? = null,
    name: String = file.name,
): MessageId = io.sendFile(chat, file.path, name, caption, key)

/**
 * E2: sends what [input] holds (on Android, `contentResolver.openInputStream`
 * of the picked URI) as [name]. It is copied into a temporary file in
 * [cacheDir] and sent from there, so the bytes never cross JNA as one array;
 * the copy is deleted once the core has queued the file (the outbox keeps
 * its own). [input] is read to its end, not closed.
 */
suspend fun RapportClient.sendStream(
    chat: ChatId,
    name: String,
    input: InputStream,
    cacheDir: File,
    caption: String? = null,
    key: String? = null,
): MessageId = onIo {
    val copy = File.createTempFile("rapport-send-", ".part", cacheDir)
    try {
        copy.outputStream().use { input.copyTo(it) }
        sendFile(chat, copy.path, name, caption, key)
    } finally {
        copy.delete()
    }
}
