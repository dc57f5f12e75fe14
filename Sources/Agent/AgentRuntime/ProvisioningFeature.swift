import FoundationEssentials
import HubClient
import Diagnostics
import Identity
import JSON
import Logging
import Provisioning
import Synchronization
import SystemCalls

/// Provisioning again while the agent runs: on the direct method `reprovision` (202, or 409 while
/// one runs), when the hub refuses the device (CONNACK not authorized or bad user name), or after
/// ``Configuration/failureLimit`` failed connects in a row (``trigger(_:)``). DPS is asked on a thread of its own;
/// a new assignment is kept in state_dir/provisioning.json and handed to `onReassigned` (the run
/// command restarts the agent on it), the same assignment only logged.
final class ProvisioningFeature: Feature {
    struct Configuration: Sendable {
        var provisioning: AgentProvisioning
        /// The assignment the hub link uses now.
        var record: ProvisioningRecord
        /// Failed hub connects in a row that make the agent ask DPS again.
        var failureLimit = 10
        /// When to renew an issued certificate (nil: the hub identity is not issued by DPS).
        var renewal: RenewalSchedule?
        var now: @Sendable () -> Date = { Date() }
        /// Connects to the hub with a renewed identity before the agent leaves the current one
        /// (TLS and CONNACK, as the doctor's link probe: ok when the hub accepted it). The probe
        /// connects as the same device, so the hub drops the live link once; it reconnects and
        /// resends what was not acknowledged.
        var confirm: @Sendable (HubClient.Settings) -> Check = { AgentChecks.link($0) }
    }

    /// What status shows.
    struct State: Sendable, Equatable {
        var record: ProvisioningRecord
        var running = false
        /// Why the last re-provisioning failed (with its fix), nil after a success.
        var lastError: String?
        /// A new assignment is waiting for the restart.
        var reassigned = false
        /// The failed-connect count at which DPS was last asked in this run of failures.
        var askedAtFailure: Int?
        /// When the issued certificate is renewed next (nil: no renewal planned).
        var renewAt: Date?
        var stopped = false
    }

    let name = "provisioning"
    let configuration: Configuration
    let link: HubLink?
    let logger: Logger
    let onReassigned: @Sendable (ProvisioningRecord) -> Void
    let state: Mutex<State>
    /// Ends the renewal wait when the feature stops.
    private let renewalWake = WakeUp()

    init(configuration: Configuration, link: HubLink?, logger: Logger,
         onReassigned: @escaping @Sendable (ProvisioningRecord) -> Void) {
        self.configuration = configuration
        self.link = link
        self.logger = logger
        self.onReassigned = onReassigned
        state = Mutex(State(record: configuration.record))
    }

    var current: State { state.withLock { $0 } }

    /// What status.json shows for DPS.
    var statusLine: @Sendable () -> String? {
        { [weak self] in
            guard let state = self?.current else { return nil }
            return AgentStatus.provisioningText(record: state.record, running: state.running, lastError: state.lastError)
        }
    }

    func start() throws {
        link?.client?.observeConnectFailures { [weak self] failure in
            guard let self, let reason = trigger(failure) else { return }
            reprovision(reason: reason)
        }
        guard let schedule = configuration.renewal, let file = configuration.record.certificateFile else { return }
        let leaf: X509Certificate
        do {
            guard let first = try X509Certificate.load(chainFile: file).first else { return }
            leaf = first
        } catch {
            logger.error("cannot read the issued certificate \(file) to plan its renewal: \(error); call the reprovision method to have DPS issue a new one",
                         metadata: ["feature": "provisioning"])
            return
        }
        let due = schedule.due(notBefore: leaf.notBefore, notAfter: leaf.notAfter, share: Double.random(in: 0..<1))
        state.withLock { $0.renewAt = due }
        link?.report(Self.certificateReport(leaf, renewAt: due))
        logger.info("the issued certificate (SHA-256 \(leaf.sha256Thumbprint)) expires \(UTC.text(leaf.notAfter)); renewing at \(UTC.text(due))",
                    metadata: ["feature": "provisioning"])
        let started = POSIX.startThread { [self] in renew(leaf, schedule: schedule, due: due) }
        if started != 0 {
            logger.error("cannot start the renewal thread (\(POSIX.describe(errno: started))); the certificate is renewed at the next start or by the reprovision method",
                         metadata: ["feature": "provisioning"])
        }
    }

    /// The twin's `certificate` reported property: which certificate the device uses and when it
    /// is renewed, so the fleet's expiries are visible from the cloud.
    static func certificateReport(_ leaf: X509Certificate, renewAt: Date) -> [UInt8] {
        let time = Date.ISO8601FormatStyle()
        return JSONValue.object(["certificate": .object([
            "thumbprint": .string(leaf.sha256Thumbprint), "validFrom": .string(leaf.notBefore.formatted(time)),
            "validUntil": .string(leaf.notAfter.formatted(time)), "renewAt": .string(renewAt.formatted(time)), "source": .string("dps"),
        ])]).encoded()
    }

    /// Waits until `due`, then registers again with a new CSR; a new certificate ends the run
    /// (the agent restarts on it, the outbox carrying every reading across); a failure is tried
    /// again on the schedule's doubling delay, before expiry.
    private func renew(_ leaf: X509Certificate, schedule: RenewalSchedule, due: Date) {
        var due = due
        var failures = 0
        while true {
            let wait = due.timeIntervalSince(configuration.now())
            if wait > 0 { _ = renewalWake.wait(timeout: .milliseconds(Int64(min(wait, 86_400) * 1000))) }
            // Raised by stop(); checked after every wait, and before a due renewal starts.
            if state.withLock({ $0.stopped }) { return }
            if due.timeIntervalSince(configuration.now()) > 0 { continue }
            let reason = "the issued certificate (SHA-256 \(leaf.sha256Thumbprint)) expires \(UTC.text(leaf.notAfter)); renewing it"
            if begin(reason: reason) {
                if work(confirming: true) { return }
                failures += 1
                due = schedule.retry(failures: failures, now: configuration.now(), notAfter: leaf.notAfter)
            } else {
                // Provisioning runs already (a method call, a refusal); look again after it.
                due = configuration.now().addingTimeInterval(RenewalSchedule.seconds(schedule.retryBase))
            }
            state.withLock { $0.renewAt = due }
        }
    }

    /// Why a failed connect makes the agent ask DPS again, or nil. Within one run of failures DPS
    /// is asked at the first refusal, then again only every ``Configuration/failureLimit``
    /// failures: a hub that keeps refusing an assignment DPS keeps giving does not turn every
    /// reconnect into a registration.
    func trigger(_ failure: HubConnectFailure) -> String? {
        let limit = configuration.failureLimit
        return state.withLock { s -> String? in
            if failure.consecutive == 1 { s.askedAtFailure = nil }
            let since = failure.consecutive - (s.askedAtFailure ?? 0)
            let reason: String
            if failure.refusesDevice && s.askedAtFailure == nil {
                reason = "the hub refused the device (\(failure.reason))"
            } else if since >= limit {
                reason = "\(since) hub connects failed in a row (last: \(failure.reason))"
            } else {
                return nil
            }
            s.askedAtFailure = failure.consecutive
            return reason
        }
    }

    func stop() {
        link?.client?.observeConnectFailures(nil)
        state.withLock { $0.stopped = true }
        renewalWake.raise()
    }

    var methods: [DirectMethod] {
        [DirectMethod(name: "reprovision") { [self] _ in
            if reprovision(reason: "the reprovision method was called") {
                return MethodResult(status: 202, body: JSONValue.object(["status": .string("provisioning")]).encoded())
            }
            return .error(409, "provisioning is already running (or its new assignment is being applied); call reprovision again after it ends")
        }]
    }

    /// Starts asking DPS again unless that already runs (or a new assignment waits); false then.
    @discardableResult
    func reprovision(reason: String) -> Bool {
        guard begin(reason: reason) else { return false }
        let started = POSIX.startThread { [self] in _ = work() }
        if started != 0 {
            finish(.failure(.connection("cannot start the provisioning thread (\(POSIX.describe(errno: started)))")))
        }
        return true
    }

    /// Marks provisioning as running unless it runs already (or a new assignment waits).
    private func begin(reason: String) -> Bool {
        let begun = state.withLock { s -> Bool in
            guard !s.running, !s.reassigned else { return false }
            s.running = true
            return true
        }
        if begun { logger.notice("provisioning again: \(reason)", metadata: ["feature": "provisioning"]) }
        return begun
    }

    /// Asks DPS on the calling thread; true when it answered. `confirming` (a renewal, while the
    /// current identity still works): a new certificate is used only once the hub has accepted
    /// it; else the current assignment is kept (provisioning.json written back) and it fails.
    private func work(confirming: Bool = false) -> Bool {
        var outcome = Result { () throws(ProvisioningError) -> ProvisioningRecord in
            try configuration.provisioning.provision(logger: logger)
        }
        if confirming, case .success(let record) = outcome, record.issuedThumbprint != configuration.record.issuedThumbprint,
           let refusal = confirm(record) {
            outcome = .failure(.certificate("the hub did not accept the renewed certificate (SHA-256 \(record.issuedThumbprint ?? "?")): "
                + "\(refusal); the agent keeps its current certificate and tries again later"))
        }
        finish(outcome)
        if case .success = outcome { return true }
        return false
    }

    /// Why the hub does not accept `record`'s identity (nil: it does); on a refusal the kept
    /// assignment is the current one again, so a restart does not pick the refused identity.
    private func confirm(_ record: ProvisioningRecord) -> String? {
        let refusal: String?
        do throws(ProvisioningError) {
            let check = configuration.confirm(try configuration.provisioning.settings(for: record))
            refusal = check.status == .ok ? nil : check.detail
        } catch {
            refusal = "\(error)"
        }
        guard let refusal else { return nil }
        if let stateDirectory = configuration.provisioning.config.core.stateDirectory {
            let path = stateDirectory + "/" + ProvisioningRecord.fileName
            do { try POSIX.writeFileDurably(path, configuration.record.json, mode: 0o644) } catch {
                logger.error("cannot write the current DPS assignment back to \(path): \(error); a restart would use the refused certificate",
                             metadata: ["feature": "provisioning"])
            }
        }
        return refusal
    }

    private func finish(_ outcome: Result<ProvisioningRecord, ProvisioningError>) {
        switch outcome {
        case .success(let record):
            let moved = state.withLock { s -> Bool in
                var old = s.record
                old.at = record.at
                s.running = false
                s.lastError = nil
                s.reassigned = old != record
                s.record = record
                return s.reassigned
            }
            if moved {
                logger.notice("DPS assigned \(record.assignedHub) as \(record.deviceID); reconnecting there",
                              metadata: ["feature": "provisioning"])
                onReassigned(record)
            } else {
                logger.notice("DPS kept the assignment (\(record.assignedHub) as \(record.deviceID))", metadata: ["feature": "provisioning"])
            }
        case .failure(let error):
            state.withLock {
                $0.running = false
                $0.lastError = "\(error)"
            }
            logger.error("provisioning again failed: \(error)", metadata: ["feature": "provisioning"])
        }
    }
}
