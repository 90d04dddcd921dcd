// The idiomatic layer over the generated bindings (rapport.kt): listeners as
// Flows, blocking store reads as suspend functions, filters with defaults,
// error codes. No logic: every rule is in the Rust core.
package app.rapport.core

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.scan
import kotlinx.coroutines.flow.drop
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
 * handle. Unbounded buffer: a diff is never dropped, or the list would drift.
 */
private fun <T> subscription(subscribe: (emit: (T) -> Unit) -> TaskHandle): Flow<T> =
    callbackFlow {
        val handle = subscribe { value -> trySend(value) }
        awaitClose { handle.use { it.cancel() } }
    }.buffer(Channel.UNLIMITED)

/** S3: batches of diffs of the first [limit] rows under [filter]. */
fun RapportClient.chatListDiffs(filter: ChatFilter, limit: UInt): Flow<List<ChatListDiff>> =
    subscription { emit ->
        subscribeChatList(filter, limit, object : ChatListListener {
            override fun onDiffs(diffs: List<ChatListDiff>) = emit(diffs)
        })
    }

/** S3: the list itself, after each batch of diffs. */
fun RapportClient.chatList(filter: ChatFilter, limit: UInt): Flow<List<ChatSummary>> =
    chatListDiffs(filter, limit).applyDiffs { list, d ->
        when (d) {
            is ChatListDiff.Reset -> { list.clear(); list.addAll(d.values) }
            is ChatListDiff.Insert -> list.add(d.index.toInt(), d.value)
            is ChatListDiff.Set -> list[d.index.toInt()] = d.value
            is ChatListDiff.Remove -> list.removeAt(d.index.toInt())
        }
    }

/** B1/C1: batches of diffs of a chat's newest [limit] items, oldest first. */
fun RapportClient.timelineDiffs(chat: ChatId, limit: UInt): Flow<List<TimelineDiff>> =
    subscription { emit ->
        subscribeTimeline(chat, limit, object : TimelineListener {
            override fun onDiffs(diffs: List<TimelineDiff>) = emit(diffs)
        })
    }

/** B1/C1: the timeline itself, after each batch of diffs. */
fun RapportClient.timeline(chat: ChatId, limit: UInt): Flow<List<TimelineItem>> =
    timelineDiffs(chat, limit).applyDiffs { list, d ->
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

// Store reads are quick (a page is well under a millisecond in the core) but
// touch the disk: off the main thread.

suspend fun RapportClient.page(
    filter: ChatFilter = chatFilter(),
    after: ChatCursor? = null,
    limit: UInt = 50u,
): ChatPage = withContext(Dispatchers.IO) { chatPage(filter, after, limit) }

suspend fun RapportClient.timelinePageOf(
    chat: ChatId,
    before: TimelineCursor? = null,
    limit: UInt = 50u,
): TimelinePage = withContext(Dispatchers.IO) { timelinePage(chat, before, limit) }

/** E1/E7: stores the reply with its local echo and queues it. */
suspend fun RapportClient.send(chat: ChatId, text: String): MessageId =
    withContext(Dispatchers.IO) { sendText(chat, text) }

/** A secret store in memory, for tests and tools (apps use the Keystore/Keychain). */
class MemorySecretStore : SecretStore {
    private val map = java.util.concurrent.ConcurrentHashMap<String, String>()
    override fun load(key: String): String? = map[key]
    override fun save(key: String, value: String) { map[key] = value }
    override fun delete(key: String) { map.remove(key) }
}
