import ServiceNotify

/// The agent under a service manager (`Type=notify`): READY once the other features have
/// started, STATUS lines as the status changes (from ``StatusFeature``), watchdog pings while the
/// sampler and the hub link keep their promises (a hung one stops the pings and systemd restarts
/// the agent), STOPPING once every feature has stopped (``finish()``: the pings go on through the
/// link's flush).
final class ServiceFeature: Feature {
    let name = "service"
    let configuration: ServiceNotifier
    let telemetry: TelemetryFeature
    let link: HubLink?
    let readyStatus: @Sendable () -> String

    init(notifier: ServiceNotifier, telemetry: TelemetryFeature, link: HubLink?, readyStatus: @escaping @Sendable () -> String) {
        configuration = notifier
        self.telemetry = telemetry
        self.link = link
        self.readyStatus = readyStatus
    }

    func start() {
        configuration.watch("sampler") { [telemetry] in telemetry.samplerPromise.withLock { $0 } }
        if let link {
            configuration.watch("hub link") { link.client?.loopPromise }
        }
        configuration.send(.ready(status: readyStatus()))
        configuration.startWatchdog()
    }

    /// After every feature stopped: no more pings, and STOPPING.
    func finish() {
        configuration.stop(status: "stopped; the outbox keeps what the hub has not acknowledged")
    }
}
