// A7 home, I1 statistics, H4 notification settings (and S5 logout).
import RapportCore
import SwiftUI

struct HomeView: View {
    @Bindable var app: AppModel
    let client: RapportClient
    @State private var model: HomeModel

    init(app: AppModel, client: RapportClient) {
        self.app = app
        self.client = client
        _model = State(initialValue: HomeModel(client: client))
    }

    var body: some View {
        List(model.recent, id: \.chat.id) { row in
            NavigationLink(value: row.chat.id) { ChatRow(row: row, bot: "") }
        }
        .navigationTitle("Home")
        .navigationDestination(for: ChatId.self) { chat in
            ChatView(app: app, client: client, chatId: chat)
        }
        .overlay { if let error = model.error { Text(error).foregroundStyle(.red) } }
        .onAppear { model.start() }
        .onDisappear { model.stop() }
    }
}

struct StatsView: View {
    @State private var model: StatsModel

    init(client: RapportClient) {
        _model = State(initialValue: StatsModel(client: client))
    }

    var body: some View {
        List(model.rows, id: \.self) { row in
            VStack(alignment: .leading) {
                Text(model.name(row.botId)).font(.headline)
                Text("Sent \(row.sent) · Received \(row.received) · Subscribers \(row.subscribers)")
                    .font(.subheadline)
            }
        }
        .navigationTitle("Statistics")
        .refreshable { await model.load() }
        .task { await model.load() }
    }
}

struct SettingsView: View {
    @Bindable var app: AppModel
    @State private var model: SettingsModel
    @State private var confirmLogout = false

    init(app: AppModel, client: RapportClient) {
        self.app = app
        _model = State(initialValue: SettingsModel(client: client))
    }

    var body: some View {
        Form {
            if let settings = model.settings {
                Section("Notifications") {
                    Toggle("Email", isOn: binding(settings, \.email))
                    Toggle("Notifications bot", isOn: binding(settings, \.notificationsBot))
                    Toggle("Push", isOn: binding(settings, \.push))
                    Toggle("Show message text in pushes", isOn: binding(settings, \.pushPreview))
                }
            }
            if let error = model.error { Text(error).foregroundStyle(.red) }
            Section {
                Button("Log out", role: .destructive) { confirmLogout = true }
            } footer: {
                if model.unsent > 0 { Text("\(model.unsent) actions are not sent yet and will be lost.") }
            }
        }
        .navigationTitle("Settings")
        .task { await model.load() }
        .confirmationDialog("Log out?", isPresented: $confirmLogout) {
            Button("Log out", role: .destructive) { Task { await app.logOut() } }
        }
    }

    /// A toggle writes the whole settings back; the server's answer is shown.
    private func binding(_ settings: NotificationSettings, _ field: WritableKeyPath<NotificationSettings, Bool>) -> Binding<Bool> {
        Binding(
            get: { settings[keyPath: field] },
            set: { value in
                var changed = settings
                changed[keyPath: field] = value
                Task { await model.save(changed) }
            }
        )
    }
}
