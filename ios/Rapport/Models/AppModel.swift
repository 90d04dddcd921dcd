// S5/S2: the session. Opens the core on the App Group store with the
// keychain (no network, the inbox shows at once offline), logs in and out,
// starts sync, and holds the one RapportClient every screen uses.
import Foundation
import Observation
import RapportCore
import UIKit

@MainActor
@Observable
final class AppModel {
    private(set) var client: RapportClient? = nil
    private(set) var login: LoginInfo? = nil
    private(set) var sync: SyncState = .idle
    /// The chat a tapped notification asked for (H2), opened by the inbox.
    var chatToOpen: ChatId? = nil
    var error: String? = nil
    /// The chat on screen: a push for it shows nothing (H2, `viewing`).
    var viewing: ChatId? = nil

    private var syncTask: Task<Void, Never>? = nil
    private var apnsToken: String? = nil

    /// H2: this install's id for the server's device list.
    var deviceId: String { UIDevice.current.identifierForVendor?.uuidString ?? "unknown" }

    /// Opens the store and restores the saved session.
    func open() async {
        guard client == nil else { return }
        do {
            let opened = try await Background.run {
                try RapportClient(
                    storePath: try SharedContainer.storePath(),
                    serverUrl: SharedContainer.loginURL,
                    secrets: KeychainSecretStore()
                )
            }
            client = opened
            login = try await Background.run { opened.loginInfo() }
            if login != nil { await loggedIn() }
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    func logIn(email: String, password: String) async {
        guard let client else { return }
        do {
            login = try await client.login(email: email, password: password)
            error = nil
            await loggedIn()
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    /// Issue 17, S5: logs in to a SendPulse account directly with its API
    /// credentials. The core restores such a login only on a client opened
    /// with the API's URL, so one is opened for it and replaces the current
    /// client once SendPulse accepted the credentials.
    func logInSendPulse(apiURL: String, clientId: String, clientSecret: String, operatorId: Int64?) async {
        guard client != nil else { return }
        do {
            let opened = try await Background.run {
                try RapportClient(
                    storePath: try SharedContainer.storePath(),
                    serverUrl: apiURL,
                    secrets: KeychainSecretStore()
                )
            }
            login = try await opened.loginSendpulse(
                clientId: clientId, clientSecret: clientSecret, operatorId: operatorId
            )
            SharedContainer.setLoginURL(apiURL)
            client = opened
            error = nil
            await loggedIn()
        } catch RapportError.NotLoggedIn {
            self.error = "SendPulse refused the client id or secret."
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    /// S5: logout wipes the local store; the client is closed after it, so
    /// a new one is opened for the next login.
    func logOut() async {
        guard let client else { return }
        syncTask?.cancel()
        do {
            try? await client.unregisterDevice(deviceId: deviceId)
            try await client.logout()
            SharedContainer.setLoginURL(nil)
            self.client = nil
            login = nil
            await open()
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    func startSync() async {
        guard let client else { return }
        if let failed = await Background.attempt({ try client.startSync() }) {
            error = failed
            return
        }
        syncTask?.cancel()
        syncTask = Task { [weak self] in
            do {
                let states = try await Background.run { client.syncStates() }
                for try await state in states {
                    self?.sync = state
                }
            } catch {
                self?.error = ErrorText.of(error)
            }
        }
    }

    /// E7: the app is active again: the outbox sends at once what the
    /// extension or a notification action queued.
    func resumed() async {
        guard let client else { return }
        _ = await Background.attempt { try client.appResumed() }
    }

    private func loggedIn() async {
        await startSync()
        await registerDevice()
    }

    // H2/H3 in the app's own process.

    func register(apnsToken token: String) async {
        apnsToken = token
        await registerDevice()
    }

    private func registerDevice() async {
        guard let client, login != nil, let apnsToken else { return }
        // Pushes need a Rapport server (H2): none on a SendPulse login.
        if (try? client.isSendpulse()) == true { return }
        let registration = DeviceRegistration(deviceId: deviceId, platform: .apns, token: apnsToken)
        do {
            try await client.registerDevice(registration: registration)
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    /// A silent push, decided by the running client (as the extension's
    /// NotificationClient would).
    func showPush(_ json: String) async -> PushDecision? {
        guard let client else { return nil }
        let viewing = viewing
        return try? await Background.run { try client.showPush(platformJson: json, viewing: viewing) }
    }

    /// H2: a tapped notification opens its chat.
    func open(pushJson json: String) async {
        chatToOpen = try? await Background.run { try RapportCore.chatToOpen(platformJson: json) }
    }

    /// The chat on screen, shared with the extension (H2 `viewing`).
    func setViewing(_ chat: ChatId?) {
        viewing = chat
        Viewing.chat = chat
    }
}
