// Uses every name of core/Core.swift once, as the real app would.
import Foundation

final class Composer {
    let client: RapportClient
    init(client: RapportClient) { self.client = client }

    func ask(_ chat: ChatId) throws -> Bool {
        let answer: Decision = try client.decide(chat: chat, outgoing: .text(text: "hi"))
        let left = Countdowns(pauseLeftMs: 1).pauseLeftMs
        let action: Action = .markRead(chatId: chat)
        _ = try client.sendTextKeyed(chat: chat, text: "hi", key: UUID().uuidString)
        _ = (left, action)
        if case .refused = answer { return false }
        return answer == .allowed
    }
}
