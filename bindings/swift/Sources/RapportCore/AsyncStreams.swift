// Hand-written: the listeners of the generated bindings (RapportCore.swift)
// as AsyncStreams. Iterating subscribes (the first element is the current
// value); when the iteration ends or its Task is cancelled, the stream
// terminates and the TaskHandle is cancelled, which ends the subscription in
// the core. No logic: every rule is in the Rust core.
import Foundation

private final class Forward<T: Sendable>: @unchecked Sendable {
    let continuation: AsyncStream<T>.Continuation
    init(_ continuation: AsyncStream<T>.Continuation) { self.continuation = continuation }
}

private final class ChatListForward: ChatListListener, @unchecked Sendable {
    let f: Forward<[ChatListDiff]>
    init(_ f: Forward<[ChatListDiff]>) { self.f = f }
    func onDiffs(diffs: [ChatListDiff]) { f.continuation.yield(diffs) }
}

private final class TimelineForward: TimelineListener, @unchecked Sendable {
    let f: Forward<[TimelineDiff]>
    init(_ f: Forward<[TimelineDiff]>) { self.f = f }
    func onDiffs(diffs: [TimelineDiff]) { f.continuation.yield(diffs) }
}

private final class CountsForward: CountsListener, @unchecked Sendable {
    let f: Forward<StatusCounts>
    init(_ f: Forward<StatusCounts>) { self.f = f }
    func onCounts(counts: StatusCounts) { f.continuation.yield(counts) }
}

private final class SyncStateForward: SyncStateListener, @unchecked Sendable {
    let f: Forward<SyncState>
    init(_ f: Forward<SyncState>) { self.f = f }
    func onState(state: SyncState) { f.continuation.yield(state) }
}

private final class TimerForward: TimerListener, @unchecked Sendable {
    let f: Forward<TimerEvent>
    init(_ f: Forward<TimerEvent>) { self.f = f }
    func onTimer(event: TimerEvent) { f.continuation.yield(event) }
}

/// Subscribes with `subscribe`; a subscription that fails finishes the
/// stream at once. Unbounded buffering: a list diff is never dropped.
private func stream<T: Sendable>(
    _ subscribe: (Forward<T>) throws -> TaskHandle
) -> AsyncStream<T> {
    AsyncStream(bufferingPolicy: .unbounded) { continuation in
        do {
            let handle = try subscribe(Forward(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        } catch {
            continuation.finish()
        }
    }
}

public extension RapportClient {
    /// S3: batches of diffs of the first `limit` rows under `filter`.
    func chatListDiffs(filter: ChatFilter, limit: UInt32) -> AsyncStream<[ChatListDiff]> {
        stream { try self.subscribeChatList(filter: filter, limit: limit, listener: ChatListForward($0)) }
    }

    /// B1/C1: batches of diffs of a chat's newest `limit` items, oldest first.
    func timelineDiffs(chat: ChatId, limit: UInt32) -> AsyncStream<[TimelineDiff]> {
        stream { try self.subscribeTimeline(chat: chat, limit: limit, listener: TimelineForward($0)) }
    }

    /// A5: the live counts of the status lists under `filter`.
    func counts(filter: ChatFilter) -> AsyncStream<StatusCounts> {
        stream { try self.subscribeCounts(filter: filter, listener: CountsForward($0)) }
    }

    /// S2: the sync state now, then each change.
    func syncStates() -> AsyncStream<SyncState> {
        stream { try self.subscribeSyncState(listener: SyncStateForward($0)) }
    }

    /// S4: deadline events as they happen.
    func timerEvents() -> AsyncStream<TimerEvent> {
        stream { try self.subscribeTimers(listener: TimerForward($0)) }
    }
}

public extension ChatFilter {
    /// Every chat (A1); narrow it with the other fields (A2-A6).
    static let all = ChatFilter(app: nil, kind: nil, assignee: .all, status: .all, search: nil)
}
