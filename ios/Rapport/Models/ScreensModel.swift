// A7 home, I1 statistics, H4 notification settings, S5 logout: small
// screens, each a read of the core and, for settings, a write.
import Foundation
import Observation
import RapportCore

@MainActor
@Observable
final class HomeModel {
    private(set) var recent: [ChatSummary] = []
    var error: String? = nil
    private let client: RapportClient
    private var task: Task<Void, Never>? = nil

    init(client: RapportClient) { self.client = client }

    /// A7: re-read whenever the inbox's counts move (a new message or a
    /// status change), so the list stays live without polling.
    func start() {
        let client = client
        task = Task { [weak self] in
            do {
                let changes = try await Background.run { client.counts(filter: .all) }
                for try await _ in changes {
                    let recent = try await Background.run { try client.home(limit: 30) }
                    self?.recent = recent
                }
            } catch is CancellationError {
            } catch {
                self?.error = ErrorText.of(error)
            }
        }
    }

    func stop() { task?.cancel() }
}

@MainActor
@Observable
final class StatsModel {
    /// I1: the total first (no bot id), then each bot.
    private(set) var rows: [BotStats] = []
    private(set) var bots: [Bot] = []
    var error: String? = nil
    private let client: RapportClient

    init(client: RapportClient) { self.client = client }

    func load() async {
        let client = client
        do {
            let read = try await Background.run { (try client.stats(), try client.bots()) }
            rows = read.0
            bots = read.1
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    func name(_ bot: BotId?) -> String {
        guard let bot else { return NSLocalizedString("All bots", comment: "stats total row") }
        return bots.first { $0.id == bot }?.name ?? bot
    }
}

@MainActor
@Observable
final class SettingsModel {
    /// H4, as the server stored them (nil until read).
    private(set) var settings: NotificationSettings? = nil
    /// S5: commands a logout would drop (the screen warns first).
    private(set) var unsent: UInt64 = 0
    var error: String? = nil
    private let client: RapportClient

    init(client: RapportClient) { self.client = client }

    func load() async {
        let client = client
        do {
            settings = try await client.notificationSettings()
            unsent = try await Background.run { try client.unsentCommands() }
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    func save(_ changed: NotificationSettings) async {
        do {
            settings = try await client.setNotificationSettings(settings: changed)
        } catch {
            self.error = ErrorText.of(error)
        }
    }
}
