// Hand-written: the listeners of the generated bindings (RapportCore.swift)
// as async sequences. Creating a stream subscribes (the first element is the
// current value); when the iteration ends or its Task is cancelled, the
// stream terminates and the TaskHandle is cancelled, which ends the
// subscription in the core. A subscription the core refuses (logged out, a
// store error) ends the stream by throwing that `RapportError`, never by
// finishing silently. No logic: every rule is in the Rust core.
import Foundation

// One forwarder per listener protocol: each hands what the core sends to a
// closure (the stream's continuation, or a list that applies the diffs).

private final class ChatListForward: ChatListListener, @unchecked Sendable {
    let receive: ([ChatListDiff]) -> Void
    init(_ receive: @escaping ([ChatListDiff]) -> Void) { self.receive = receive }
    func onDiffs(diffs: [ChatListDiff]) { receive(diffs) }
}

private final class TimelineForward: TimelineListener, @unchecked Sendable {
    let receive: ([TimelineDiff]) -> Void
    init(_ receive: @escaping ([TimelineDiff]) -> Void) { self.receive = receive }
    func onDiffs(diffs: [TimelineDiff]) { receive(diffs) }
}

private final class CountsForward: CountsListener, @unchecked Sendable {
    let receive: (StatusCounts) -> Void
    init(_ receive: @escaping (StatusCounts) -> Void) { self.receive = receive }
    func onCounts(counts: StatusCounts) { receive(counts) }
}

private final class SyncStateForward: SyncStateListener, @unchecked Sendable {
    let receive: (SyncState) -> Void
    init(_ receive: @escaping (SyncState) -> Void) { self.receive = receive }
    func onState(state: SyncState) { receive(state) }
}

private final class UploadForward: UploadListener, @unchecked Sendable {
    let receive: (UploadProgress) -> Void
    init(_ receive: @escaping (UploadProgress) -> Void) { self.receive = receive }
    func onProgress(progress: UploadProgress) { receive(progress) }
}

private final class TimerForward: TimerListener, @unchecked Sendable {
    let receive: (TimerEvent) -> Void
    init(_ receive: @escaping (TimerEvent) -> Void) { self.receive = receive }
    func onTimer(event: TimerEvent) { receive(event) }
}

/// Subscribes with `subscribe`; a subscription that fails ends the stream
/// with its error. Unbounded buffering: a list diff is never dropped.
private func stream<T: Sendable>(
    _ subscribe: (AsyncThrowingStream<T, Error>.Continuation) throws -> TaskHandle
) -> AsyncThrowingStream<T, Error> {
    AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
        do {
            let handle = try subscribe(continuation)
            continuation.onTermination = { _ in handle.cancel() }
        } catch {
            continuation.finish(throwing: error)
        }
    }
}

/// The list a batch of diffs leaves, kept between batches. The core calls a
/// listener from one thread at a time; the lock makes that a guarantee here.
private final class Applier<Diff, Row: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [Row] = []
    private let apply: (inout [Row], Diff) -> Void
    private let continuation: AsyncThrowingStream<[Row], Error>.Continuation

    init(
        _ continuation: AsyncThrowingStream<[Row], Error>.Continuation,
        _ apply: @escaping (inout [Row], Diff) -> Void
    ) {
        self.continuation = continuation
        self.apply = apply
    }

    func receive(_ diffs: [Diff]) {
        lock.lock()
        defer { lock.unlock() }
        for diff in diffs { apply(&rows, diff) }
        continuation.yield(rows)
    }
}

/// A live window of a list (the chat list, a timeline): iterating it yields
/// the whole list after each batch of diffs, as the core applies them.
/// `setLimit` grows or shrinks the window as the list scrolls (the rows
/// added or removed arrive as the next element). The subscription ends when
/// the iteration ends, its Task is cancelled, or `cancel()` is called.
public final class LiveList<Row: Sendable>: AsyncSequence, @unchecked Sendable {
    public typealias Element = [Row]
    public typealias AsyncIterator = AsyncThrowingStream<[Row], Error>.Iterator

    private let values: AsyncThrowingStream<[Row], Error>
    private let handle: TaskHandle?

    fileprivate init(values: AsyncThrowingStream<[Row], Error>, handle: TaskHandle?) {
        self.values = values
        self.handle = handle
    }

    public func makeAsyncIterator() -> AsyncIterator { values.makeAsyncIterator() }

    /// S3: the window's new size (the UI scrolled near its end, or back).
    public func setLimit(_ limit: UInt32) throws { try handle?.setLimit(limit: limit) }

    public func cancel() { handle?.cancel() }
}

private func liveList<Diff, Row: Sendable>(
    _ apply: @escaping (inout [Row], Diff) -> Void,
    _ subscribe: (@escaping ([Diff]) -> Void) throws -> TaskHandle
) -> LiveList<Row> {
    let (values, continuation) = AsyncThrowingStream.makeStream(
        of: [Row].self, throwing: Error.self, bufferingPolicy: .unbounded
    )
    let applier = Applier(continuation, apply)
    do {
        let handle = try subscribe { applier.receive($0) }
        continuation.onTermination = { _ in handle.cancel() }
        return LiveList(values: values, handle: handle)
    } catch {
        continuation.finish(throwing: error)
        return LiveList(values: values, handle: nil)
    }
}

public extension ChatListDiff {
    /// Applies this diff to the list it was computed against.
    func apply(to rows: inout [ChatSummary]) {
        switch self {
        case let .reset(values): rows = values
        case let .insert(index, value): rows.insert(value, at: Int(index))
        case let .set(index, value): rows[Int(index)] = value
        case let .remove(index): rows.remove(at: Int(index))
        }
    }
}

public extension TimelineDiff {
    /// Applies this diff to the timeline it was computed against.
    func apply(to items: inout [TimelineItem]) {
        switch self {
        case let .reset(values): items = values
        case let .insert(index, value): items.insert(value, at: Int(index))
        case let .set(index, value): items[Int(index)] = value
        case let .remove(index): items.remove(at: Int(index))
        }
    }
}

public extension RapportClient {
    /// S3: the first `limit` rows under `filter`, live, as a list; grow the
    /// window with `setLimit` as the list scrolls.
    func chatList(filter: ChatFilter, limit: UInt32) -> LiveList<ChatSummary> {
        liveList({ (rows: inout [ChatSummary], diff: ChatListDiff) in diff.apply(to: &rows) }) { receive in
            try self.subscribeChatList(filter: filter, limit: limit, listener: ChatListForward(receive))
        }
    }

    /// B1/C1: a chat's newest `limit` items, oldest first, live; grow the
    /// window with `setLimit` as the agent scrolls up.
    func timeline(chat: ChatId, limit: UInt32) -> LiveList<TimelineItem> {
        liveList({ (items: inout [TimelineItem], diff: TimelineDiff) in diff.apply(to: &items) }) { receive in
            try self.subscribeTimeline(chat: chat, limit: limit, listener: TimelineForward(receive))
        }
    }

    /// S3: the raw batches of diffs of the first `limit` rows under `filter`.
    func chatListDiffs(filter: ChatFilter, limit: UInt32) -> AsyncThrowingStream<[ChatListDiff], Error> {
        stream { c in
            try self.subscribeChatList(filter: filter, limit: limit, listener: ChatListForward { c.yield($0) })
        }
    }

    /// B1/C1: the raw batches of diffs of a chat's newest `limit` items.
    func timelineDiffs(chat: ChatId, limit: UInt32) -> AsyncThrowingStream<[TimelineDiff], Error> {
        stream { c in
            try self.subscribeTimeline(chat: chat, limit: limit, listener: TimelineForward { c.yield($0) })
        }
    }

    /// A5: the live counts of the status lists under `filter`.
    func counts(filter: ChatFilter) -> AsyncThrowingStream<StatusCounts, Error> {
        stream { c in try self.subscribeCounts(filter: filter, listener: CountsForward { c.yield($0) }) }
    }

    /// S2: the sync state now, then each change.
    func syncStates() -> AsyncThrowingStream<SyncState, Error> {
        stream { c in try self.subscribeSyncState(listener: SyncStateForward { c.yield($0) }) }
    }

    /// E2: upload progress of the outbox's attachments, one value per part.
    func uploads() -> AsyncThrowingStream<UploadProgress, Error> {
        stream { c in try self.subscribeUploads(listener: UploadForward { c.yield($0) }) }
    }

    /// S4: deadline events as they happen.
    func timerEvents() -> AsyncThrowingStream<TimerEvent, Error> {
        stream { c in try self.subscribeTimers(listener: TimerForward { c.yield($0) }) }
    }
}

public extension RapportError {
    /// The stable code of an error (`window_closed`, `network`, ...), as the
    /// core names it; a screen switches on this, not on the message.
    var code: String { errorCode(error: self) }
}

public extension ChatFilter {
    /// Every chat (A1); narrow it with the other fields (A2-A6).
    static let all = ChatFilter(app: nil, kind: nil, assignee: .all, status: .all, search: nil)
}
