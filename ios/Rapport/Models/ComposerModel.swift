// E1-E6: the composer shows the core's decision as the agent types:
// allowed (the window state, what it costs on Viber) or refused (why:
// too long by how much, window closed...), and the alternatives the core
// offers instead (a WhatsApp template, a Messenger tag), which switch the
// composer's mode. E2: files go through the core's checks. E7: each tap
// has its own idempotency key, so a retried tap is never sent twice.
import Foundation
import Observation
import RapportCore

@MainActor
@Observable
final class ComposerModel {
    enum Mode: Equatable {
        case text
        /// E5: WhatsApp outside the window: a pre-approved template by name.
        case template
        /// E5: Messenger outside the window: the text with a message tag.
        case tagged(MessageTag)
        /// C1: an internal note (never sent to the subscriber).
        case note
    }

    var text = "" { didSet { decideSoon() } }
    var mode: Mode = .text { didSet { decideSoon() } }
    /// The core's answer for what is typed now (nil while nothing asked).
    private(set) var decision: Decision? = nil
    /// E1: what is left to type, in the unit that binds first for the
    /// chat's app (nil for a note or while nothing asked).
    private(set) var budget: TextLeft? = nil
    private(set) var sending = false
    var error: String? = nil

    private let client: RapportClient
    private let chatId: ChatId
    private var deciding: Task<Void, Never>? = nil

    init(client: RapportClient, chatId: ChatId) {
        self.client = client
        self.chatId = chatId
    }

    /// What the core is asked about: the typed text in the current mode.
    private var outgoing: Outgoing? {
        switch mode {
        case .text: return .text(text: text)
        case .template: return .template(name: text)
        case let .tagged(tag): return .tagged(tag: tag, text: text)
        case .note: return nil
        }
    }

    /// The alternatives of a refusal (E5), for the switch above the field.
    var alternatives: [Alternative] {
        if case let .refused(_, instead) = decision { return instead }
        return []
    }

    var mayTap: Bool {
        if mode == .note { return !text.isEmpty && !sending }
        if case .allowed = decision { return !sending }
        return false
    }

    func decideSoon() {
        deciding?.cancel()
        guard let outgoing else {
            decision = nil
            budget = nil
            return
        }
        let client = client
        let chat = chatId
        let typed = text
        deciding = Task {
            let answer = try? await Background.run { () -> (Decision, TextLeft?) in
                let decision = try client.decide(chat: chat, outgoing: outgoing)
                let budget = try client.chat(chat: chat).map { textLeft(app: $0.chat.app, text: typed) }
                return (decision, budget)
            }
            if !Task.isCancelled {
                decision = answer?.0
                budget = answer?.1 ?? nil
            }
        }
    }

    /// E5: the agent picked an alternative the core offered.
    func use(_ alternative: Alternative) {
        switch alternative {
        case .whatsappTemplate: mode = .template
        case let .messengerTag(tag): mode = .tagged(tag)
        }
    }

    func send(chat: ChatModel) async {
        let client = client
        let id = chatId
        let text = text
        let mode = mode
        let key = UUID().uuidString
        sending = true
        defer { sending = false }
        do {
            switch mode {
            case .text:
                _ = try await Background.run { try client.sendTextKeyed(chat: id, text: text, key: key) }
            case .template:
                _ = try await Background.run { try client.sendTemplate(chat: id, name: text) }
            case let .tagged(tag):
                _ = try await Background.run { try client.sendTagged(chat: id, tag: tag, text: text) }
            case .note:
                _ = try await Background.run {
                    try client.runAction(action: .addNote(chatId: id, text: text))
                }
            }
            self.text = ""
            self.mode = .text
            error = nil
        } catch {
            self.error = ErrorText.of(error)
        }
        await chat.refresh()
    }

    /// E2: a file the agent picked (a security-scoped URL from the file
    /// importer) is copied to a temporary file the core reads and checks
    /// (type from its bytes, the app's size limit): never one big array.
    func sendFile(_ picked: URL, chat: ChatModel) async {
        let client = client
        let id = chatId
        let key = UUID().uuidString
        sending = true
        defer { sending = false }
        do {
            let path = try await Background.run { () -> String in
                let scoped = picked.startAccessingSecurityScopedResource()
                defer { if scoped { picked.stopAccessingSecurityScopedResource() } }
                let copy = FileManager.default.temporaryDirectory
                    .appendingPathComponent(UUID().uuidString, isDirectory: true)
                try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
                let file = copy.appendingPathComponent(picked.lastPathComponent)
                try FileManager.default.copyItem(at: picked, to: file)
                return file.path
            }
            _ = try await Background.run {
                defer { try? FileManager.default.removeItem(atPath: path) }
                return try client.sendFile(chat: id, path: path, name: nil, caption: nil, key: key)
            }
            error = nil
        } catch {
            self.error = ErrorText.of(error)
        }
        await chat.refresh()
    }
}
