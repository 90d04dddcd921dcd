// APNs' userInfo as the JSON the core reads (NotificationClient.show,
// chatToOpen, replyAsync): the platform's data handed over unchanged, no
// field picked out here. The notification category and action ids both
// processes use are named here once.
import Foundation

enum PushPayload {
    /// userInfo as JSON text; keys that are not strings (none in an APNs
    /// payload) are left out, as JSON cannot carry them.
    static func json(_ userInfo: [AnyHashable: Any]) -> String {
        var object: [String: Any] = [:]
        for (key, value) in userInfo {
            if let key = key as? String { object[key] = value }
        }
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object)
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// H3: the category the server's pushes name (`aps.category`) and its
/// actions: a text-input reply and mark-read, both run in the background.
enum NotificationIds {
    static let chatCategory = "RAPPORT_CHAT"
    static let replyAction = "RAPPORT_REPLY"
    static let markReadAction = "RAPPORT_MARK_READ"
}
