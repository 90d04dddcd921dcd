// H2: the chat on the app's screen, written by the app and read by the
// Notification Service Extension (another process) through the App Group's
// defaults, so the core's `show(viewing:)` decides whether a push for it
// shows (Suppressed.viewing). Cleared when the app leaves the foreground.
import Foundation

enum Viewing {
    private static let key = "rapport.viewing"

    private static var defaults: UserDefaults? { UserDefaults(suiteName: SharedContainer.appGroup) }

    static var chat: String? {
        get { defaults?.string(forKey: key) }
        set {
            if let newValue {
                defaults?.set(newValue, forKey: key)
            } else {
                defaults?.removeObject(forKey: key)
            }
        }
    }
}
