// B1-B10, C1, D1, E1-E7, A8, F7: one chat. The timeline is the core's live
// window; every "may I?" (send, react, edit, delete, pause, assign) is the
// core's answer (decide / checkAction), drawn as it is. No rule here.
import Foundation
import Observation
import RapportCore

@MainActor
@Observable
final class ChatModel {
    static let page: UInt32 = 40

    let chatId: ChatId
    private(set) var summary: ChatSummary? = nil
    private(set) var items: [TimelineItem] = []
    /// B9: every member (names and avatars of senders); D1: the ones the
    /// core says may be assigned.
    private(set) var members: [Member] = []
    private(set) var assignable: [Member] = []
    private(set) var capabilities: Capabilities? = nil
    /// E7: this chat's commands not yet confirmed (failed ones with a code).
    private(set) var outbox: [OutboxEntry] = []
    /// E7: the failed ones, to retry or discard.
    var failed: [OutboxEntry] {
        outbox.filter { entry in
            if case .failed = entry.state { return true }
            return false
        }
    }
    /// E2: upload progress by the echo's message id, 0...1.
    private(set) var progress: [MessageId: Double] = [:]
    /// E4, E3/F7: the core's countdowns, and the local moment they end
    /// (server time turned into this phone's clock once, for the timer text).
    private(set) var countdowns: Countdowns? = nil
    private(set) var windowEnds: Date? = nil
    private(set) var pauseEnds: Date? = nil
    /// E6: the Viber month of this chat's bot (nil elsewhere).
    private(set) var viberMonth: ViberMonth? = nil
    private(set) var olderExhausted = false
    var error: String? = nil

    private let client: RapportClient
    private var timeline: LiveList<TimelineItem>? = nil
    private var limit = ChatModel.page
    private var tasks: [Task<Void, Never>] = []
    private var loadingOlder = false

    init(client: RapportClient, chatId: ChatId) {
        self.client = client
        self.chatId = chatId
    }

    func start() {
        let client = client
        let chat = chatId
        let limit = limit
        tasks.append(Task { [weak self] in
            do {
                let live = try await Background.run { client.timeline(chat: chat, limit: limit) }
                self?.timeline = live
                for try await items in live {
                    self?.items = items
                    await self?.refresh()
                }
            } catch is CancellationError {
            } catch {
                self?.error = ErrorText.of(error)
            }
        })
        tasks.append(Task { [weak self] in
            do {
                let uploads = try await Background.run { client.uploads() }
                for try await p in uploads {
                    guard let id = p.messageId, p.totalBytes > 0 else { continue }
                    self?.progress[id] = Double(p.sentBytes) / Double(p.totalBytes)
                }
            } catch {}
        })
        tasks.append(Task { [weak self] in
            do {
                let timers = try await Background.run { client.timerEvents() }
                for try await _ in timers {
                    await self?.refresh()
                }
            } catch {}
        })
        Task {
            // B10: opening the chat marks its subscriber messages read.
            await run(.markRead(chatId: chat))
            members = (try? await Background.run { try client.members(assignableOnly: false) }) ?? []
            assignable = (try? await Background.run { try client.members(assignableOnly: true) }) ?? []
            capabilities = try? await Background.run { try client.capabilities() }
            await refresh()
        }
    }

    func stop() {
        tasks.forEach { $0.cancel() }
        tasks = []
        let timeline = timeline
        Task.detached { timeline?.cancel() }
    }

    /// Re-reads what the core decides for the header: the chat row, the
    /// countdowns on server time, the Viber month, this chat's outbox.
    func refresh() async {
        let client = client
        let chat = chatId
        do {
            let read = try await Background.run {
                (
                    try client.chat(chat: chat),
                    try client.countdowns(chat: chat),
                    try client.serverNow(),
                    try client.viberMonth(chat: chat),
                    try client.outbox().filter { $0.chatId == chat }
                )
            }
            summary = read.0
            countdowns = read.1
            viberMonth = read.3
            outbox = read.4
            let now = Date()
            if case let .open(closesAt) = read.1.window {
                windowEnds = now.addingTimeInterval(Double(closesAt - read.2) / 1000)
            } else {
                windowEnds = nil
            }
            pauseEnds = read.1.pauseLeftMs.map { now.addingTimeInterval(Double($0) / 1000) }
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    // B1: older history. First the store's window grows; when the store
    // has no more, the server is asked for the page before the oldest.

    func reachedTop() {
        guard !loadingOlder, !olderExhausted, let timeline else { return }
        loadingOlder = true
        let client = client
        let chat = chatId
        let grown = limit + Self.page
        let shown = items.count
        let oldest = items.lazy.compactMap { item -> MessageId? in
            if case let .message(m) = item { return m.id }
            return nil
        }.first
        Task {
            defer { loadingOlder = false }
            do {
                if shown >= Int(limit) {
                    try await Background.run { try timeline.setLimit(grown) }
                    limit = grown
                    return
                }
                let more = try await client.loadOlder(chat: chat, before: oldest, limit: Self.page)
                if more {
                    try await Background.run { try timeline.setLimit(grown) }
                    limit = grown
                } else {
                    olderExhausted = true
                }
            } catch {
                self.error = ErrorText.of(error)
            }
        }
    }

    // Agent actions (A8, B7, B8, B10, C1, D1, E3/F7): queued by the core
    // after its checks; a refusal comes back as the error shown.

    func run(_ action: Action) async {
        let client = client
        if let failed = await Background.attempt({ _ = try client.runAction(action: action) }) {
            error = failed
        }
        await refresh()
    }

    /// Whether the core would allow it now (the button greys out if not).
    func allowed(_ action: Action) async -> Bool {
        let client = client
        return await Background.attempt { try client.checkAction(action: action) } == nil
    }

    func close() async { await run(.close(chatId: chatId)) }
    func reopen() async { await run(.open(chatId: chatId)) }
    func assign(_ member: MemberId?) async { await run(.assign(chatId: chatId, memberId: member)) }
    func pause(_ action: PauseAction) async { await run(.pause(chatId: chatId, action: action)) }
    func react(_ message: MessageId, _ emoji: String?) async {
        await run(.react(chatId: chatId, messageId: message, emoji: emoji))
    }
    func edit(_ message: MessageId, _ text: String) async {
        await run(.editMessage(chatId: chatId, messageId: message, text: text))
    }
    func delete(_ message: MessageId) async {
        await run(.deleteMessage(chatId: chatId, messageId: message))
    }
    func addNote(_ text: String) async { await run(.addNote(chatId: chatId, text: text)) }
    func editNote(_ note: NoteId, _ text: String) async {
        await run(.editNote(chatId: chatId, noteId: note, text: text))
    }
    func deleteNote(_ note: NoteId) async { await run(.deleteNote(chatId: chatId, noteId: note)) }

    // E7: a failed send is retried or discarded by the agent.

    func retry(_ entry: OutboxEntry) async {
        let client = client
        error = await Background.attempt { try client.retry(outboxId: entry.id) }
        await refresh()
    }

    func discard(_ entry: OutboxEntry) async {
        let client = client
        error = await Background.attempt { try client.discard(outboxId: entry.id) }
        await refresh()
    }

    func memberName(_ id: MemberId) -> String {
        members.first { $0.id == id }?.name ?? id
    }

    func member(_ id: MemberId) -> Member? {
        members.first { $0.id == id }
    }
}
