// F1-F8, G1-G3: the subscriber card and the deals. Reads come from the
// store; every change is an Action queued by the core after its checks
// (field bounds, who may edit), as in the console.
import Foundation
import Observation
import RapportCore

@MainActor
@Observable
final class SubscriberModel {
    let subscriberId: SubscriberId
    private(set) var card: Subscriber? = nil
    private(set) var deals: [Deal] = []
    /// F6: the flows matching what the agent typed, from the server.
    private(set) var flows: [BotFlow] = []
    var error: String? = nil

    private let client: RapportClient

    init(client: RapportClient, subscriberId: SubscriberId) {
        self.client = client
        self.subscriberId = subscriberId
    }

    func load() async {
        let client = client
        let id = subscriberId
        do {
            let read = try await Background.run { (try client.subscriber(id: id), try client.deals(subscriber: id)) }
            card = read.0
            deals = read.1
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    private func run(_ action: Action) async {
        let client = client
        if let failed = await Background.attempt({ _ = try client.runAction(action: action) }) {
            error = failed
        }
        await load()
    }

    private func edit(_ changes: SubscriberChanges) async {
        await run(.editSubscriber(subscriberId: subscriberId, edit: changes))
    }

    private static func changes(
        variables: [String: String] = [:],
        addTags: [String] = [],
        removeTags: [String] = [],
        disable: Bool = false,
        flowId: String? = nil,
        crmContact: CrmContact? = nil
    ) -> SubscriberChanges {
        SubscriberChanges(
            variables: variables, addTags: addTags, removeTags: removeTags,
            disable: disable, flowId: flowId, crmContact: crmContact
        )
    }

    // F5
    func setVariable(_ name: String, _ value: String) async { await edit(Self.changes(variables: [name: value])) }
    func addTag(_ tag: String) async { await edit(Self.changes(addTags: [tag])) }
    func removeTag(_ tag: String) async { await edit(Self.changes(removeTags: [tag])) }
    // F8
    func disable() async { await edit(Self.changes(disable: true)) }
    // F6: start a flow; an empty id stops the active one.
    func startFlow(_ flow: BotFlow) async { await edit(Self.changes(flowId: flow.id)) }
    func stopFlow() async { await edit(Self.changes(flowId: "")) }
    // G2
    func setContact(first: String, last: String, phone: String) async {
        let contact = CrmContact(firstName: first, lastName: last, phone: phone.isEmpty ? nil : phone)
        await edit(Self.changes(crmContact: contact))
    }

    func searchFlows(_ query: String) async {
        do {
            flows = try await client.searchFlows(query: query)
        } catch {
            self.error = ErrorText.of(error)
        }
    }

    // G1, G3. Amounts are the core's minor units (see ios/README.md).
    func addDeal(pipeline: Named, stage: Named, name: String, amountMinor: Int64, currency: String) async {
        await run(.addDeal(
            subscriberId: subscriberId, pipeline: pipeline, stage: stage,
            name: name, amountMinor: amountMinor, currency: currency
        ))
    }

    func editDeal(_ deal: Deal, stage: Named?, name: String?, amountMinor: Int64?) async {
        await run(.editDeal(dealId: deal.id, stage: stage, name: name, amountMinor: amountMinor))
    }

    /// The pipelines and stages the store's deals name (the core has no
    /// list of them yet: see ios/README.md), to pick from.
    var knownPipelines: [Named] { unique(deals.map(\.pipeline)) }
    func knownStages(of pipeline: Named) -> [Named] {
        unique(deals.filter { $0.pipeline.id == pipeline.id }.map(\.stage))
    }

    private func unique(_ names: [Named]) -> [Named] {
        var seen = Set<String>()
        return names.filter { seen.insert($0.id).inserted }
    }
}
