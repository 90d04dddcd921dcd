// The app's entry: one AppModel (the session and its RapportClient), the
// UIKit delegate for APNs registration and silent pushes, and the
// notification delegate for taps and the background reply / mark-read.
import RapportCore
import SwiftUI
import UIKit
import UserNotifications

@main
struct RapportApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var delegate

    var body: some Scene {
        WindowGroup {
            RootView(model: delegate.model)
        }
    }
}

@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate {
    let model = AppModel()
    private lazy var notifications = NotificationDelegate(model: model)

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        let center = UNUserNotificationCenter.current()
        center.delegate = notifications
        center.setNotificationCategories([NotificationDelegate.chatCategory()])
        center.requestAuthorization(options: [.alert, .badge, .sound]) { granted, _ in
            guard granted else { return }
            DispatchQueue.main.async { application.registerForRemoteNotifications() }
        }
        return true
    }

    /// H2: the device's APNs token, registered with the server once a
    /// session exists (again at each launch: the token can change).
    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        let token = deviceToken.map { String(format: "%02x", $0) }.joined()
        Task { await model.register(apnsToken: token) }
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        model.error = "push_registration"
    }

    /// B10/H2: a silent push (`content-available`), e.g. the chat was read on
    /// another device: the running client's showPush decides; a Remove
    /// clears that chat's notifications and sets the badge.
    func application(
        _ application: UIApplication,
        didReceiveRemoteNotification userInfo: [AnyHashable: Any]
    ) async -> UIBackgroundFetchResult {
        let json = PushPayload.json(userInfo)
        guard let decision = await model.showPush(json) else { return .noData }
        switch decision {
        case let .remove(tag, _, badge):
            await NotificationDelegate.remove(thread: tag, badge: badge)
            return .newData
        case let .suppress(_, badge):
            try? await UNUserNotificationCenter.current().setBadgeCount(Int(badge))
            return .noData
        case .show:
            // Shown by the extension (a mutable-content push), not here.
            return .noData
        }
    }
}
