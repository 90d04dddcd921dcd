// Where the app and the Notification Service Extension find the one store
// and the one session: the App Group container and the shared keychain
// group, both named in Info.plist (project.yml sets them from the build
// settings, so the team's prefix is filled in by Xcode). No rule here.
import Foundation

enum SharedContainer {
    /// Info.plist keys (project.yml writes them for both targets).
    private static func setting(_ key: String) -> String {
        (Bundle.main.object(forInfoDictionaryKey: key) as? String) ?? ""
    }

    static var appGroup: String { setting("RapportAppGroup") }
    static var keychainGroup: String { setting("RapportKeychainGroup") }
    static var serverURL: String { setting("RapportServerURL") }

    /// Issue 17: the URL the login was made with: the Rapport server's, or
    /// SendPulse's API root after a SendPulse login (the core restores that
    /// login only when opened with it). Kept in the App Group's defaults;
    /// no secret here (the credentials are in the keychain).
    static var loginURL: String {
        UserDefaults(suiteName: appGroup)?.string(forKey: "RapportLoginURL") ?? serverURL
    }

    static func setLoginURL(_ url: String?) {
        let defaults = UserDefaults(suiteName: appGroup)
        if let url {
            defaults?.set(url, forKey: "RapportLoginURL")
        } else {
            defaults?.removeObject(forKey: "RapportLoginURL")
        }
    }

    /// The store's folder in the App Group container, with file protection
    /// `completeUntilFirstUserAuthentication`: the extension opens the store
    /// while the phone is locked (after the first unlock since boot), which
    /// `complete` would forbid. Set on the folder so SQLite's -wal and -shm
    /// files created later inherit it, and on each file already there.
    static func storeDirectory() throws -> URL {
        let files = FileManager.default
        guard let group = files.containerURL(forSecurityApplicationGroupIdentifier: appGroup) else {
            throw SharedContainerError.noAppGroup(appGroup)
        }
        let folder = group.appendingPathComponent("Rapport", isDirectory: true)
        let protection: [FileAttributeKey: Any] = [
            .protectionKey: FileProtectionType.completeUntilFirstUserAuthentication,
        ]
        try files.createDirectory(at: folder, withIntermediateDirectories: true, attributes: protection)
        try files.setAttributes(protection, ofItemAtPath: folder.path)
        for name in try files.contentsOfDirectory(atPath: folder.path) {
            try files.setAttributes(protection, ofItemAtPath: folder.appendingPathComponent(name).path)
        }
        return folder
    }

    /// The SQLite store both processes open (the core coordinates them).
    static func storePath() throws -> String {
        try storeDirectory().appendingPathComponent("rapport.sqlite").path
    }
}

enum SharedContainerError: Error {
    /// The App Group entitlement is missing or misspelt (a signing issue).
    case noAppGroup(String)
}
