// A1-A6 (and A7's rows): the inbox with status tabs and their live counts,
// filters, search as the agent types, rows growing on scroll.
import RapportCore
import SwiftUI

struct InboxView: View {
    @Bindable var app: AppModel
    let client: RapportClient
    @State private var model: InboxModel
    @State private var path: [ChatId] = []

    init(app: AppModel, client: RapportClient) {
        self.app = app
        self.client = client
        _model = State(initialValue: InboxModel(client: client))
    }

    var body: some View {
        NavigationStack(path: $path) { list }
    }

    private var list: some View {
        List {
            Section {
                Picker("Status", selection: $model.status) {
                    Text("Open \(model.counts.open)").tag(StatusFilter.open)
                    Text("Unread \(model.counts.unread)").tag(StatusFilter.unread)
                    Text("Closed \(model.counts.closed)").tag(StatusFilter.closed)
                    Text("All \(model.counts.all)").tag(StatusFilter.all)
                }
                .pickerStyle(.segmented)
            }
            ForEach(model.rows, id: \.chat.id) { row in
                NavigationLink(value: row.chat.id) {
                    ChatRow(row: row, bot: model.botName(row.chat.botId))
                }
                .onAppear { model.appeared(row) }
            }
            if let error = model.error {
                Text(error).foregroundStyle(.red)
            }
        }
        .navigationTitle("Inbox")
        .searchable(text: $model.search, prompt: "Subscriber name")
        .toolbar {
            ToolbarItem(placement: .topBarTrailing) { FilterMenu(model: model) }
        }
        .navigationDestination(for: ChatId.self) { chat in
            ChatView(app: app, client: client, chatId: chat)
        }
        .onAppear { model.start() }
        .onDisappear { model.stop() }
        .onChange(of: app.chatToOpen) { _, chat in
            // H2: a tapped notification opens its chat.
            if let chat {
                path = [chat]
                app.chatToOpen = nil
            }
        }
    }
}

/// A2-A4: app, chat type and assignee filters.
struct FilterMenu: View {
    @Bindable var model: InboxModel

    var body: some View {
        Menu {
            Picker("Messaging app", selection: $model.app) {
                Text("All apps").tag(MessagingApp?.none)
                ForEach(AppName.all, id: \.self) { app in
                    Text(AppName.of(app)).tag(MessagingApp?.some(app))
                }
            }
            Picker("Chat type", selection: $model.kind) {
                Text("All chats").tag(ChatKind?.none)
                Text("Personal").tag(ChatKind?.some(.personal))
                Text("Group").tag(ChatKind?.some(.group))
            }
            Picker("Assignee", selection: $model.assignee) {
                Text("Everyone's").tag(AssigneeFilter.all)
                Text("Mine").tag(AssigneeFilter.mine)
                Text("Unassigned").tag(AssigneeFilter.unassigned)
            }
        } label: {
            Label("Filters", systemImage: "line.3.horizontal.decrease.circle")
        }
    }
}

/// One chat row: the app (A2), the status dot (A5) as the core computed it,
/// the title and the last message's preview.
struct ChatRow: View {
    let row: ChatSummary
    let bot: String

    var body: some View {
        HStack(alignment: .top) {
            StatusDot(status: row.status)
            VStack(alignment: .leading, spacing: 2) {
                HStack {
                    Text(row.chat.title).font(.headline).lineLimit(1)
                    Spacer()
                    Text(Clock.date(row.chat.lastActivity), style: .relative).font(.caption2)
                }
                Text("\(AppName.of(row.chat.app)) · \(bot)").font(.caption).foregroundStyle(.secondary)
                if let preview = row.preview {
                    Text(preview.text).font(.subheadline).lineLimit(2).foregroundStyle(.secondary)
                }
            }
        }
    }
}

/// A5: open = empty red dot, unread = filled red dot, closed = grey dot.
struct StatusDot: View {
    let status: ChatStatus

    var body: some View {
        switch status {
        case .open: Circle().stroke(.red, lineWidth: 2).frame(width: 10, height: 10)
        case .unread: Circle().fill(.red).frame(width: 10, height: 10)
        case .closed: Circle().fill(.gray).frame(width: 10, height: 10)
        }
    }
}

enum AppName {
    static let all: [MessagingApp] = [.telegram, .whatsapp, .instagram, .messenger, .viber, .livechat]

    static func of(_ app: MessagingApp) -> String {
        switch app {
        case .telegram: return "Telegram"
        case .whatsapp: return "WhatsApp"
        case .instagram: return "Instagram"
        case .messenger: return "Messenger"
        case .viber: return "Viber"
        case .livechat: return "Live chat"
        }
    }
}

/// The core's times are milliseconds since 1970 (server time).
enum Clock {
    static func date(_ ms: Timestamp) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
