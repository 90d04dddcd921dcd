// H2/H3: taps, and the category's actions answered in the background.
// The reply goes through a NotificationClient on the shared store
// (replyAsync: queued before any network call, so it is never lost; a
// cancelled task calls cancel() and the app's client sends it later, once).
// Mark-read goes the same way (markReadAsync: the push's chat only, queued
// first, sent now or by the app later).
import Foundation
import RapportCore
import UIKit
import UserNotifications

final class NotificationDelegate: NSObject, UNUserNotificationCenterDelegate, @unchecked Sendable {
    private let model: AppModel

    init(model: AppModel) {
        self.model = model
    }

    /// The category with a text-input reply and a mark-read action; neither
    /// opens the app (no `.foreground`), both need the phone unlocked.
    static func chatCategory() -> UNNotificationCategory {
        let reply = UNTextInputNotificationAction(
            identifier: NotificationIds.replyAction,
            title: NSLocalizedString("Reply", comment: "notification action"),
            options: [.authenticationRequired],
            textInputButtonTitle: NSLocalizedString("Send", comment: "notification reply button"),
            textInputPlaceholder: NSLocalizedString("Message", comment: "notification reply placeholder")
        )
        let markRead = UNNotificationAction(
            identifier: NotificationIds.markReadAction,
            title: NSLocalizedString("Mark as read", comment: "notification action"),
            options: [.authenticationRequired]
        )
        return UNNotificationCategory(
            identifier: NotificationIds.chatCategory,
            actions: [reply, markRead],
            intentIdentifiers: [],
            options: []
        )
    }

    /// In the foreground: the extension already drew what the core decided;
    /// a push it left empty (the core said show nothing) is not presented.
    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        willPresent notification: UNNotification
    ) async -> UNNotificationPresentationOptions {
        let content = notification.request.content
        if content.title.isEmpty && content.body.isEmpty { return [] }
        return [.banner, .list, .sound, .badge]
    }

    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        didReceive response: UNNotificationResponse
    ) async {
        let request = response.notification.request
        let json = PushPayload.json(request.content.userInfo)
        let typed = (response as? UNTextInputNotificationResponse)?.userText
        switch response.actionIdentifier {
        case NotificationIds.replyAction:
            if let typed { await Self.reply(json: json, text: typed) }
            center.removeDeliveredNotifications(withIdentifiers: [request.identifier])
        case NotificationIds.markReadAction:
            await Self.markRead(json: json)
            center.removeDeliveredNotifications(withIdentifiers: [request.identifier])
        case UNNotificationDefaultActionIdentifier:
            // H2: a tap opens that chat.
            await model.open(pushJson: json)
        default:
            break
        }
    }

    /// Runs `body` on a NotificationClient of the shared store in a
    /// background task. When iOS ends the time, the task is cancelled and so
    /// is the core's call (what it queued stays queued, for the app). The
    /// error's text, or nil.
    private static func inBackground(
        named name: String,
        _ body: @escaping @Sendable (NotificationClient) async throws -> Void
    ) async -> String? {
        let work = Task<String?, Never> {
            do {
                let client = try await Background.run {
                    try NotificationClient(
                        storePath: try SharedContainer.storePath(),
                        serverUrl: SharedContainer.serverURL,
                        secrets: KeychainSecretStore()
                    )
                }
                try await withTaskCancellationHandler {
                    try await body(client)
                } onCancel: {
                    client.cancel()
                }
                return nil
            } catch {
                return ErrorText.of(error)
            }
        }
        let background = await MainActor.run {
            UIApplication.shared.beginBackgroundTask(withName: name) { work.cancel() }
        }
        let failed = await work.value
        await MainActor.run { UIApplication.shared.endBackgroundTask(background) }
        return failed
    }

    /// H3: the reply; a refusal is told in a local notification.
    private static func reply(json: String, text: String) async {
        let key = UUID().uuidString
        let failed = await inBackground(named: "rapport.reply") { client in
            _ = try await client.replyAsync(platformJson: json, text: text, key: key)
        }
        if let failed { await notifyNotSent(code: failed) }
    }

    /// H3: "Mark read", queued in the shared store before the network call.
    /// A failure has nothing to tell: the chat stays unread until opened.
    private static func markRead(json: String) async {
        let key = UUID().uuidString
        _ = await inBackground(named: "rapport.read") { client in
            _ = try await client.markReadAsync(platformJson: json, key: key)
        }
    }

    /// A refused reply (too long, window closed...) cannot be shown on a
    /// screen: a local notification says so, with the core's code only.
    private static func notifyNotSent(code: String) async {
        let content = UNMutableNotificationContent()
        content.title = NSLocalizedString("Reply not sent", comment: "local notification title")
        content.body = code
        let request = UNNotificationRequest(identifier: UUID().uuidString, content: content, trigger: nil)
        try? await UNUserNotificationCenter.current().add(request)
    }

    /// B10: the chat was read: its notifications go, the badge follows.
    static func remove(thread: String, badge: UInt64) async {
        let center = UNUserNotificationCenter.current()
        let ids = await center.deliveredNotifications()
            .filter { $0.request.content.threadIdentifier == thread }
            .map { $0.request.identifier }
        center.removeDeliveredNotifications(withIdentifiers: ids)
        try? await center.setBadgeCount(Int(badge))
    }
}
