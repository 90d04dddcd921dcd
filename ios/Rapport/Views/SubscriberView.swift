// F1-F8 the subscriber card, G1-G3 the CRM contact and deals.
import RapportCore
import SwiftUI

struct SubscriberView: View {
    @State private var model: SubscriberModel
    let chat: ChatModel
    @State private var newTag = ""
    @State private var variableName = ""
    @State private var variableValue = ""
    @State private var flowQuery = ""
    @State private var confirmDisable = false

    init(client: RapportClient, subscriberId: SubscriberId, chat: ChatModel) {
        _model = State(initialValue: SubscriberModel(client: client, subscriberId: subscriberId))
        self.chat = chat
    }

    var body: some View {
        Form {
            if let card = model.card {
                profile(card)
                automation(card)
                variables(card)
                tags(card)
                flows(card)
                crm(card)
                Section {
                    Button("Disable subscriber", role: .destructive) { confirmDisable = true }
                }
            } else {
                ProgressView()
            }
            if let error = model.error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(model.card?.name ?? "")
        .task { await model.load() }
        .confirmationDialog("The bot stops messaging this subscriber.", isPresented: $confirmDisable) {
            Button("Disable", role: .destructive) { Task { await model.disable() } }
        }
    }

    /// F1-F4.
    private func profile(_ card: Subscriber) -> some View {
        Section {
            HStack {
                if let avatar = card.avatarUrl, let url = URL(string: avatar) {
                    AsyncImage(url: url) { image in image.resizable() } placeholder: { Color.gray }
                        .frame(width: 48, height: 48).clipShape(Circle())
                }
                VStack(alignment: .leading) {
                    Text(card.name).font(.headline)
                    if let username = card.username { Text("@\(username)").foregroundStyle(.secondary) }
                    Text(AppName.of(card.app)).font(.caption)
                }
            }
            if let email = card.email { LabeledContent("Email", value: email) }
            if let phone = card.phone { LabeledContent("Phone", value: phone) }
            LabeledContent("Status", value: StatusName.of(card.status))
            LabeledContent("Subscribed") { Text(Clock.date(card.subscribedAt), style: .date) }
            if let last = card.lastActivityAt {
                LabeledContent("Last activity") { Text(Clock.date(last), style: .relative) }
            }
            if let group = card.group {
                LabeledContent("Members", value: "\(group.memberCount)")
                if let link = group.shareLink, let url = URL(string: link) { Link("Share link", destination: url) }
                if let link = group.inviteLink, let url = URL(string: link) { Link("Invite link", destination: url) }
            }
            if let follow = card.instagram {
                LabeledContent("Follows you", value: follow.followsBusiness ? "Yes" : "No")
                LabeledContent("You follow", value: follow.businessFollows ? "Yes" : "No")
            }
            if let ad = card.adSource, let url = URL(string: ad.url) {
                Link("Came from the ad \(ad.name)", destination: url)
            }
        }
    }

    /// F7: pause / +60 / continue, the chat's countdown as the core reports.
    private func automation(_ card: Subscriber) -> some View {
        Section("Automation") {
            if let ends = chat.pauseEnds {
                LabeledContent("Paused") { Text(ends, style: .timer) }
            }
            Button("Pause for 60 minutes") { Task { await chat.pause(.start) } }
            Button("+60 minutes") { Task { await chat.pause(.extend) } }
            Button("Continue autoflows") { Task { await chat.pause(.continue) } }
        }
    }

    /// F5: variables.
    private func variables(_ card: Subscriber) -> some View {
        Section("Variables") {
            ForEach(card.variables.keys.sorted(), id: \.self) { name in
                LabeledContent(name, value: card.variables[name] ?? "")
            }
            TextField("Name", text: $variableName)
            TextField("Value", text: $variableValue)
            Button("Set") {
                let name = variableName
                let value = variableValue
                Task { await model.setVariable(name, value) }
                variableName = ""
                variableValue = ""
            }
            .disabled(variableName.isEmpty)
        }
    }

    /// F5: tags.
    private func tags(_ card: Subscriber) -> some View {
        Section("Tags") {
            ForEach(card.tags, id: \.self) { tag in
                HStack {
                    Text(tag)
                    Spacer()
                    Button("Remove", role: .destructive) { Task { await model.removeTag(tag) } }
                        .buttonStyle(.borderless)
                }
            }
            HStack {
                TextField("New tag", text: $newTag)
                Button("Add") {
                    let tag = newTag
                    Task { await model.addTag(tag) }
                    newTag = ""
                }
                .disabled(newTag.isEmpty)
            }
        }
    }

    /// F6: the active flow and its queued messages; start (searchable) or stop.
    private func flows(_ card: Subscriber) -> some View {
        Section("Flow") {
            if let flow = card.activeFlow {
                LabeledContent(flow.name, value: "\(flow.queuedMessages) queued")
                Button("Stop flow", role: .destructive) { Task { await model.stopFlow() } }
            }
            TextField("Search flows", text: $flowQuery)
                .onSubmit { Task { await model.searchFlows(flowQuery) } }
            ForEach(model.flows, id: \.id) { flow in
                Button("Start \(flow.name)") { Task { await model.startFlow(flow) } }
            }
        }
    }

    /// G1-G3: the CRM contact and the deals.
    private func crm(_ card: Subscriber) -> some View {
        Section("CRM") {
            NavigationLink("Contact") { ContactEditor(model: model, contact: card.crmContact) }
            ForEach(model.deals, id: \.id) { deal in
                NavigationLink { DealEditor(model: model, deal: deal) } label: {
                    VStack(alignment: .leading) {
                        Text(deal.name)
                        Text("\(deal.pipeline.name) · \(deal.stage.name) · \(deal.amountMinor) \(deal.currency)")
                            .font(.caption)
                    }
                }
            }
            NavigationLink("Add a deal") { DealEditor(model: model, deal: nil) }
        }
    }
}

enum StatusName {
    static func of(_ status: SubscriptionStatus) -> String {
        switch status {
        case .active: return NSLocalizedString("Subscribed", comment: "F2")
        case .unsubscribed: return NSLocalizedString("Unsubscribed", comment: "F2")
        case .disabled: return NSLocalizedString("Disabled", comment: "F8")
        }
    }
}

/// G2: first name, last name, phone.
struct ContactEditor: View {
    let model: SubscriberModel
    @State private var first: String
    @State private var last: String
    @State private var phone: String
    @Environment(\.dismiss) private var dismiss

    init(model: SubscriberModel, contact: CrmContact?) {
        self.model = model
        _first = State(initialValue: contact?.firstName ?? "")
        _last = State(initialValue: contact?.lastName ?? "")
        _phone = State(initialValue: contact?.phone ?? "")
    }

    var body: some View {
        Form {
            TextField("First name", text: $first)
            TextField("Last name", text: $last)
            TextField("Phone", text: $phone).keyboardType(.phonePad)
            Button("Save") {
                let (f, l, p) = (first, last, phone)
                Task {
                    await model.setContact(first: f, last: l, phone: p)
                    dismiss()
                }
            }
        }
        .navigationTitle("Contact")
    }
}

/// G1 add / G3 edit a deal (stage, name, amount) and open its card. The
/// amount is in the currency's minor units, as the core keeps it.
struct DealEditor: View {
    let model: SubscriberModel
    let deal: Deal?
    @State private var name: String
    @State private var amount: String
    @State private var currency: String
    @State private var pipeline: Named?
    @State private var stage: Named?
    @Environment(\.dismiss) private var dismiss

    init(model: SubscriberModel, deal: Deal?) {
        self.model = model
        self.deal = deal
        _name = State(initialValue: deal?.name ?? "")
        _amount = State(initialValue: deal.map { String($0.amountMinor) } ?? "")
        _currency = State(initialValue: deal?.currency ?? "")
        _pipeline = State(initialValue: deal?.pipeline)
        _stage = State(initialValue: deal?.stage)
    }

    var body: some View {
        Form {
            TextField("Name", text: $name)
            TextField("Amount (minor units)", text: $amount).keyboardType(.numberPad)
            if deal == nil {
                TextField("Currency", text: $currency)
                Picker("Pipeline", selection: $pipeline) {
                    Text("—").tag(Named?.none)
                    ForEach(model.knownPipelines, id: \.id) { p in Text(p.name).tag(Named?.some(p)) }
                }
            }
            if let pipeline {
                Picker("Stage", selection: $stage) {
                    Text("—").tag(Named?.none)
                    ForEach(model.knownStages(of: pipeline), id: \.id) { s in Text(s.name).tag(Named?.some(s)) }
                }
            }
            if let link = deal?.url, let url = URL(string: link) { Link("Open the deal card", destination: url) }
            Button("Save") { save() }
        }
        .navigationTitle(deal?.name ?? NSLocalizedString("New deal", comment: "G1"))
    }

    private func save() {
        let minor = Int64(amount)
        let (name, currency, pipeline, stage) = (name, currency, pipeline, stage)
        Task {
            if let deal {
                await model.editDeal(
                    deal, stage: stage == deal.stage ? nil : stage,
                    name: name == deal.name ? nil : name,
                    amountMinor: minor == deal.amountMinor ? nil : minor
                )
            } else if let pipeline, let stage {
                await model.addDeal(
                    pipeline: pipeline, stage: stage, name: name,
                    amountMinor: minor ?? 0, currency: currency
                )
            }
            dismiss()
        }
    }
}
