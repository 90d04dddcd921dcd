// H2: the Notification Service Extension, a second process with about
// 24 MB, run for each push with `mutable-content: 1`. It opens a
// NotificationClient on the App Group's store and the shared keychain (no
// sync, no network for `show`) and draws exactly what the core decides:
// title, body (per the member's preview setting), threadIdentifier (one
// group per chat), badge (unread chats), an alert only for the first push
// of a burst.
import Foundation
import RapportCore
import UserNotifications

final class NotificationService: UNNotificationServiceExtension {
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var fallback: UNMutableNotificationContent?

    override func didReceive(
        _ request: UNNotificationRequest,
        withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void
    ) {
        self.contentHandler = contentHandler
        guard let content = request.content.mutableCopy() as? UNMutableNotificationContent else {
            contentHandler(request.content)
            return
        }
        // Until the core answers: a generic text, never the payload's own.
        content.title = NSLocalizedString("Rapport", comment: "generic push title")
        content.body = NSLocalizedString("New message", comment: "generic push body")
        fallback = content

        let json = PushPayload.json(request.content.userInfo)
        let decision: PushDecision
        do {
            let client = try NotificationClient(
                storePath: try SharedContainer.storePath(),
                serverUrl: SharedContainer.serverURL,
                secrets: KeychainSecretStore()
            )
            decision = try client.show(platformJson: json, viewing: Viewing.chat)
        } catch {
            // Not ours, malformed, or the store could not be opened: the
            // generic text (no message text or error detail in a log).
            finish(content)
            return
        }

        switch decision {
        case let .show(tag, _, title, body, _, alert, badge):
            content.title = title
            content.body = body
            content.threadIdentifier = tag
            content.categoryIdentifier = NotificationIds.chatCategory
            content.badge = NSNumber(value: badge)
            // A burst is one alert: the pushes after it update silently.
            content.sound = alert ? UNNotificationSound.default : nil
            content.interruptionLevel = alert ? .active : .passive
            finish(content)
        case let .suppress(_, badge):
            finish(Self.nothing(badge: badge))
        case let .remove(tag, _, badge):
            // B10: read on another device: its notifications go.
            Self.removeDelivered(thread: tag) { self.finish(Self.nothing(badge: badge)) }
        }
    }

    /// "Show nothing" as far as iOS allows without the
    /// com.apple.developer.usernotifications.filtering entitlement (which
    /// Apple grants on request; with it, handing an empty
    /// UNNotificationContent() drops the push): a content with no title,
    /// no body, no sound and a passive interruption level, carrying only the
    /// badge. iOS still delivers it to Notification Center, where it may
    /// show as an entry with the app's name; the app's foreground delegate
    /// presents nothing for it.
    private static func nothing(badge: UInt64) -> UNMutableNotificationContent {
        let content = UNMutableNotificationContent()
        content.badge = NSNumber(value: badge)
        content.sound = nil
        content.interruptionLevel = .passive
        return content
    }

    static func removeDelivered(thread: String, then done: @escaping () -> Void) {
        let center = UNUserNotificationCenter.current()
        center.getDeliveredNotifications { delivered in
            let ids = delivered
                .filter { $0.request.content.threadIdentifier == thread }
                .map { $0.request.identifier }
            center.removeDeliveredNotifications(withIdentifiers: ids)
            done()
        }
    }

    private func finish(_ content: UNNotificationContent) {
        contentHandler?(content)
        contentHandler = nil
    }

    /// iOS is about to end the extension: deliver the generic text.
    override func serviceExtensionTimeWillExpire() {
        if let fallback { finish(fallback) }
    }
}
