// A miniature of the generated bindings, for scripts/test_ios_check.py.
open class RapportClient {
    public convenience init(storePath: String, serverUrl: String) throws {}
    open func decide(chat: ChatId, outgoing: Outgoing) throws -> Decision {}
    open func sendTextKeyed(chat: ChatId, text: String, key: String) throws -> MessageId {}
}
public typealias ChatId = String
public typealias MessageId = String
public enum Outgoing: Equatable { case text(text: String) }
public enum Decision: Equatable {
    case allowed
    case refused(reason: String, instead: [String])
}
public enum Action { case markRead(chatId: ChatId) }
public struct Countdowns { public var pauseLeftMs: Int64?; public init(pauseLeftMs: Int64? = nil) {} }
