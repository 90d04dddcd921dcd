// A1-A6: the inbox. The core filters, searches, orders and counts; this
// model only holds what the agent picked and what the core sent back.
import Foundation
import Observation
import RapportCore

@MainActor
@Observable
final class InboxModel {
    static let page: UInt32 = 50

    private(set) var rows: [ChatSummary] = []
    /// A5: the live counts of the status tabs under the other filters.
    private(set) var counts = StatusCounts(open: 0, unread: 0, closed: 0, all: 0)
    private(set) var bots: [Bot] = []
    var error: String? = nil

    // The agent's choices (A2-A6); a change resubscribes.
    var status: StatusFilter = .all { didSet { resubscribe() } }
    var app: MessagingApp? = nil { didSet { resubscribe() } }
    var kind: ChatKind? = nil { didSet { resubscribe() } }
    var assignee: AssigneeFilter = .all { didSet { resubscribe() } }
    /// A6: what the agent typed; each keystroke asks the core again.
    var search = "" { didSet { resubscribe() } }

    private let client: RapportClient
    private var list: LiveList<ChatSummary>? = nil
    private var limit = InboxModel.page
    private var listTask: Task<Void, Never>? = nil
    private var countsTask: Task<Void, Never>? = nil

    init(client: RapportClient) {
        self.client = client
    }

    var filter: ChatFilter {
        ChatFilter(
            app: app,
            kind: kind,
            assignee: assignee,
            status: status,
            search: search.isEmpty ? nil : search
        )
    }

    func start() {
        resubscribe()
        let client = client
        Task {
            bots = (try? await Background.run { try client.bots() }) ?? []
        }
    }

    func stop() {
        listTask?.cancel()
        countsTask?.cancel()
        // Ending the core's subscription is a core call too: off the main actor.
        let list = list
        Task.detached { list?.cancel() }
    }

    /// S3: a new window under the new filter; counts follow the filters
    /// other than the status tab (each tab shows its own count).
    private func resubscribe() {
        stop()
        limit = Self.page
        let client = client
        let filter = filter
        let countsFilter = ChatFilter(
            app: filter.app, kind: filter.kind, assignee: filter.assignee,
            status: .all, search: filter.search
        )
        let limit = limit
        listTask = Task { [weak self] in
            do {
                let list = try await Background.run { client.chatList(filter: filter, limit: limit) }
                self?.list = list
                for try await rows in list {
                    self?.rows = rows
                }
            } catch is CancellationError {
            } catch {
                self?.error = ErrorText.of(error)
            }
        }
        countsTask = Task { [weak self] in
            do {
                let counts = try await Background.run { client.counts(filter: countsFilter) }
                for try await value in counts {
                    self?.counts = value
                }
            } catch is CancellationError {
            } catch {
                self?.error = ErrorText.of(error)
            }
        }
    }

    /// S3: the agent scrolled to `row`; near the end the window grows by a
    /// page (the new rows arrive as the next element of the list).
    func appeared(_ row: ChatSummary) {
        guard let list, row.chat.id == rows.last?.chat.id, rows.count >= Int(limit) else { return }
        limit += Self.page
        let next = limit
        Task {
            if let failed = await Background.attempt({ try list.setLimit(next) }) {
                error = failed
            }
        }
    }

    func botName(_ id: BotId) -> String {
        bots.first { $0.id == id }?.name ?? ""
    }
}
