#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import IoTHub
import JSON
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SystemCalls
import Transport

/// LocalHub: FieldAgent's IoT Hub emulator for development, demos, tests and fleet simulation
/// on one machine (issue 5). An MQTT 3.1.1 server over mutual TLS on 127.0.0.1
/// that behaves toward a device as IoT Hub does (its MQTT device protocol, twin, methods, limits and X.509 authentication, as documented), with a device
/// registry by certificate, a twin store, direct methods, C2D and a telemetry log.
///
/// ## Contract
/// - Listens on 127.0.0.1 only: ``Configuration/port`` (8883 as IoT Hub; 0 picks a free port,
///   see ``start()``), on a small SwiftNIO event-loop group; no thread per connection.
/// - State lives under ``Configuration/stateDirectory``: `hub.sqlite` (registry, CAs, twins),
///   `telemetry/{deviceId}.jsonl` (rotated to `.jsonl.1` at ``Configuration/telemetryFileMaximumBytes``), `registered-cas.pem`, `admin.sock` (mode 0600) and, when no
///   server certificate is given, a dev PKI in `pki/`. A restart keeps registry and twins.
/// - The admin API is a Unix socket, never the device port (see ``AdminRequest``), served on its
///   own event-loop thread so it answers while devices saturate theirs. Each device connection
///   reads at most 16 KB per event-loop turn, so one busy device cannot hold a loop for long.
/// - Refusals (unknown device, wrong thumbprint, foreign topic, QoS 2, keep-alive) are logged
///   at `warning` with the reason, through the configured logger.
/// - Bounded (``ConnectionLimits``): a TLS handshake has a deadline; total and not yet
///   authenticated connections are capped (the descriptor limit is raised at start so the cap,
///   not the limit, is what a flood meets); a connection's reads stop while it is not writable
///   and it is closed when its unsent output passes a cap; twin reads are throttled at IoT Hub's
///   rate (429).
/// - C2D as IoT Hub keeps it for MQTT devices: queued (also for an offline device), locked
///   on delivery until the PUBACK, delivered again after the lock timeout or a dropped
///   connection, dead-lettered after the maximum delivery count, expired after its time to live.
/// - With ``Configuration/dps``, a Device Provisioning Service endpoint on its own TLS port
///   (``dpsPort``): X.509 enrollments (groups by CA, individual by certificate), assignment to
///   this hub (the device is registered here), certificate issuance from a CSR (docs/localhub.md).
/// - Not a production hub: no SAS, no routing.
public final class LocalHubServer: Sendable {
    public struct Configuration: Sendable {
        /// 8883 as IoT Hub; 0 picks a free port.
        public var port: Int = IoTHubLimits.mqttPort
        /// MQTT over WebSockets on TLS (`/$iothub/websocket`, subprotocol `mqtt`) on this port
        /// too (443 as IoT Hub; 0 picks a free one, see ``webSocketPort``); nil: none.
        public var webSocketPort: Int?
        public var stateDirectory: String
        /// Server certificate (PEM, leaf first, then intermediates) and key. Both `nil`: a dev
        /// PKI generated once under `stateDirectory/pki` (devices trust `pki/root.pem`).
        public var serverCertificateFile: String?
        public var serverKeyFile: String?
        /// CA certificates registered at start for CA-signed devices (each a PEM file).
        public var certificateAuthorityFiles: [String] = []
        public var eventLoopThreads = 2
        /// Open the admin Unix socket (the CLI's way in).
        public var adminSocket = true
        public var session = HubSession.Configuration()
        /// C2D queue depth, time to live, lock timeout and maximum deliveries (IoT Hub's defaults).
        public var cloudToDevice = CloudToDeviceLimits()
        public var limits = ConnectionLimits()
        /// Twin GETs per second, hub-wide (IoT Hub's S1 rate); beyond it a GET is answered 429.
        public var twinReadsPerSecond = Double(IoTHubLimits.twinReadsPerSecond)
        /// A device's telemetry file is rotated (one older file kept) before it passes this size.
        public var telemetryFileMaximumBytes = 64 << 20
        /// IoT Hub's device-to-cloud throttle and daily quota to emulate (nil: none), for `units` units.
        public var tier: IoTHubTier?
        public var units = 1
        /// The IoT hub name device user names must carry (`{hub}/{device}/?api-version=…`), for
        /// LocalHub standing in for an IoT Edge gateway in front of that hub; nil accepts any.
        public var hubName: String?
        /// A DPS endpoint that assigns devices to this hub (nil: none).
        public var dps: DpsConfiguration?
        public var logger: Logger
        /// The time certificates are checked against and telemetry is stamped with.
        public var now: @Sendable () -> Date = { Date() }

        public init(stateDirectory: String, port: Int = IoTHubLimits.mqttPort, logger: Logger) {
            self.stateDirectory = stateDirectory
            self.port = port
            self.logger = logger
        }

        /// `stateDirectory/admin.sock`.
        public var adminSocketPath: String { stateDirectory + "/admin.sock" }
    }

    struct Running {
        var device: (any Channel)?
        var webSocket: (any Channel)?
        var dps: (any Channel)?
        var dpsPort: UInt16?
        var dpsWebSocket: (any Channel)?
        var dpsWebSocketPort: UInt16?
        var admin: (any Channel)?
        var port: UInt16?
        var webSocketPort: UInt16?
        var started = false
        var stopped = false
    }

    public let configuration: Configuration
    /// The host name DPS answers as `assignedHub` (``Configuration/hubName``, else "localhost").
    public let assignedHubName: String
    let core: HubCore
    /// The DPS endpoint's state, with ``Configuration/dps``.
    let dps: DpsService?
    let tls: TLSMemoryContext
    let group: MultiThreadedEventLoopGroup
    /// One thread for the admin socket. On the device loops, a flood of telemetry made an admin
    /// request wait for minutes (measured with hub-fleet-bench at 1 ms per device).
    let adminGroup: MultiThreadedEventLoopGroup
    private let running = Mutex(Running())

    /// Opens the state (creating it on first use) and the server certificate; listens only on ``start()``.
    public init(_ configuration: Configuration) throws(HubError) {
        self.configuration = configuration
        let directory = configuration.stateDirectory
        do { try POSIX.makeDirectories(directory, mode: 0o700) } catch {
            throw .storage(operation: "creating the state folder", path: directory, reason: error.description)
        }
        core = try HubCore(stateDirectory: directory, logger: configuration.logger, now: configuration.now,
                           sessionConfiguration: configuration.session, limits: configuration.limits,
                           twinReadsPerSecond: configuration.twinReadsPerSecond,
                           telemetryFileMaximumBytes: configuration.telemetryFileMaximumBytes,
                           quota: configuration.tier.map { HubQuota(tier: $0, units: configuration.units) },
                           cloudToDeviceLimits: configuration.cloudToDevice, hubName: configuration.hubName)
        assignedHubName = configuration.hubName ?? "localhost"
        if let settings = configuration.dps {
            dps = try DpsService(configuration: settings, core: core, stateDirectory: directory,
                                 assignedHubName: assignedHubName)
        } else {
            dps = nil
        }
        let identity = try Self.serverIdentity(configuration)
        do {
            tls = try TLSMemoryContext.server(.server(identity: identity, clientTrustAnchors: nil),
                                              clientCertificates: .requireAny, name: "LocalHub")
        } catch {
            throw .serverIdentity("\(error)")
        }
        for file in configuration.certificateAuthorityFiles {
            let pem: [UInt8]
            do { pem = try POSIX.readFile(file) } catch {
                throw .certificateAuthority("cannot read \(file): \(error)")
            }
            _ = try core.registerCertificateAuthorities(pem: pem, source: file)
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        adminGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    static func serverIdentity(_ configuration: Configuration) throws(HubError) -> X509Identity {
        var certificate = configuration.serverCertificateFile
        var key = configuration.serverKeyFile
        if (certificate == nil) != (key == nil) {
            throw .serverIdentity("give both --cert and --key, or neither")
        }
        if certificate == nil {
            let pki = configuration.stateDirectory + "/pki"
            certificate = pki + "/server.pem"
            key = pki + "/server.key"
            if !POSIX.exists(pki + "/server.pem") {
                do { _ = try DevPKI.generate(outputDirectory: pki, devices: [], now: configuration.now()) } catch {
                    throw .serverIdentity("cannot create a dev PKI in \(pki): \(error)")
                }
                let text = "created a dev PKI in \(pki): devices trust \(pki)/root.pem; issue device certificates "
                    + "from \(pki)/intermediate.pem and register \(pki)/root.pem as their CA"
                configuration.logger.notice("\(text)")
            }
        }
        do {
            return try X509Identity.load(certificateFile: certificate ?? "", keyFile: key ?? "")
        } catch {
            throw .serverIdentity("\(error)")
        }
    }

    /// Starts listening; returns the device port actually bound.
    @discardableResult
    public func start() async throws(HubError) -> UInt16 {
        try running.withLock { (state: inout Running) throws(HubError) -> Void in
            if state.started { throw .state("start() was already called") }
            state.started = true
        }
        let core = self.core
        let tls = self.tls
        if let descriptors = POSIX.raiseDescriptorLimit(), descriptors < UInt64(configuration.limits.maximumConnections) + 64 {
            configuration.logger.warning("LocalHub may open \(descriptors) descriptors, fewer than its \(configuration.limits.maximumConnections) connections; raise the hard limit (ulimit -Hn) or lower the cap")
        }
        let device = try await listen(bootstrap(core: core, tls: tls, webSocket: false), port: configuration.port, what: "",
                                      hint: "another hub or broker may hold the port: pass --port 0 for a free one")
        let port = UInt16(device.localAddress?.port ?? 0)
        running.withLock {
            $0.device = device
            $0.port = port
        }
        if let webSocketPort = configuration.webSocketPort {
            let channel = try await listen(bootstrap(core: core, tls: tls, webSocket: true), port: webSocketPort,
                                           what: " (WebSockets)", hint: "another server may hold the port: pass --ws-port 0 for a free one")
            running.withLock {
                $0.webSocket = channel
                $0.webSocketPort = UInt16(channel.localAddress?.port ?? 0)
            }
        }
        if let dps, let settings = configuration.dps {
            let channel = try await listen(bootstrap(core: core, tls: tls, webSocket: false, dps: dps), port: settings.port,
                                           what: " (DPS)", hint: "another server may hold the port: pass --dps-port 0 for a free one")
            let bound = UInt16(channel.localAddress?.port ?? 0)
            running.withLock {
                $0.dps = channel
                $0.dpsPort = bound
            }
            configuration.logger.notice("\(Self.dpsStartupLine(port: bound, idScope: settings.idScope, hub: assignedHubName))")
            if let webSocketPort = settings.webSocketPort {
                let channel = try await listen(bootstrap(core: core, tls: tls, webSocket: true, dps: dps), port: webSocketPort,
                                               what: " (DPS WebSockets)", hint: "another server may hold the port: pass --dps-ws-port 0 for a free one")
                running.withLock {
                    $0.dpsWebSocket = channel
                    $0.dpsWebSocketPort = UInt16(channel.localAddress?.port ?? 0)
                }
            }
        }
        if configuration.adminSocket {
            let admin = try await AdminServer.start(group: adminGroup, path: configuration.adminSocketPath, core: core, dps: dps)
            running.withLock { $0.admin = admin }
        }
        let text = "LocalHub listening on 127.0.0.1:\(port) (state \(configuration.stateDirectory), "
            + "\(core.devices().count) device(s) registered)"
        configuration.logger.notice("\(text)")
        return port
    }

    /// Binds `bootstrap` on 127.0.0.1:`port`; a failure names the listener (`what`) and `hint`.
    func listen(_ bootstrap: ServerBootstrap, port: Int, what: String, hint: String) async throws(HubError) -> any Channel {
        do { return try await bootstrap.bind(host: "127.0.0.1", port: port).get() } catch {
            throw .listen(what: "127.0.0.1:\(port)\(what)", reason: "\(error); \(hint)")
        }
    }

    /// The device listener's bootstrap: every connection admitted against the caps, TLS, then
    /// MQTT (or, on the WebSocket port, the HTTP upgrade first).
    func bootstrap(core: HubCore, tls: TLSMemoryContext, webSocket: Bool, dps: DpsService? = nil) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 16 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let peer = channel.remoteAddress.map { "\($0)" } ?? "client"
                    // Over a cap the connection is refused at once (the bootstrap closes it).
                    try core.admitConnection(peer: peer)
                    if webSocket {
                        do {
                            let session = try tls.makeSession(peer: peer)
                            try channel.pipeline.syncOperations.addHandler(NIOTLSMemoryHandler(session: session))
                            // Its guard counts the connection until the hub or DPS handler takes over.
                            try WebSocketListener.configure(channel, core: core) {
                                if let dps { DpsConnectionHandler(service: dps) } else { HubConnectionHandler(core: core) }
                            }
                        } catch {
                            core.connectionClosed(authenticated: false)
                            throw error
                        }
                        return
                    }
                    // The DPS port runs the same TLS and MQTT framing under its own session.
                    let handler: any CountedConnection & ChannelHandler = if let dps { DpsConnectionHandler(service: dps) } else {
                        HubConnectionHandler(core: core)
                    }
                    do {
                        let session = try tls.makeSession(peer: peer)
                        try channel.pipeline.syncOperations.addHandler(NIOTLSMemoryHandler(session: session))
                        try channel.pipeline.syncOperations.addHandler(MQTTFrameHandler())
                        try channel.pipeline.syncOperations.addHandler(handler)
                    } catch {
                        handler.releaseConnection()
                        throw error
                    }
                }
            }
    }

    /// The device port, once started.
    public var port: UInt16? { running.withLock { $0.port } }

    /// The WebSocket port, once started with ``Configuration/webSocketPort``.
    public var webSocketPort: UInt16? { running.withLock { $0.webSocketPort } }

    /// The DPS port, once started with ``Configuration/dps``.
    public var dpsPort: UInt16? { running.withLock { $0.dpsPort } }
    /// The DPS WebSocket port, once started with ``DpsConfiguration/webSocketPort``.
    public var dpsWebSocketPort: UInt16? { running.withLock { $0.dpsWebSocketPort } }

    /// `LocalHub DPS listening on 127.0.0.1:PORT (id scope S, assigns to HUB)`: logged at start and printed by `localhub serve`.
    public static func dpsStartupLine(port: UInt16, idScope: String, hub: String) -> String {
        "LocalHub DPS listening on 127.0.0.1:\(port) (id scope \(idScope), assigns to \(hub))"
    }

    /// Closes the listeners and every connection and stops the event loops. Idempotent.
    public func stop() async {
        let channels: [any Channel]? = running.withLock { state in
            if state.stopped { return nil }
            state.stopped = true
            return [state.device, state.webSocket, state.dps, state.dpsWebSocket, state.admin].compactMap { $0 }
        }
        guard let channels else { return }
        for channel in channels { try? await channel.close() }
        try? await group.shutdownGracefully()
        try? await adminGroup.shutdownGracefully()
        if configuration.adminSocket {
            try? POSIX.unlink(configuration.adminSocketPath, missingIsFine: true)
        }
    }

    // MARK: Registry

    /// Registers (or re-registers) a device.
    public func registerDevice(_ deviceID: String, authentication: DeviceAuthentication) throws(HubError) {
        var authentication = authentication
        if case let .thumbprint(primary, secondary) = authentication {
            authentication = .thumbprint(primary: try DeviceAuthentication.normalizedThumbprint(primary),
                                         secondary: try secondary.map { (text) throws(HubError) -> String in
                                             try DeviceAuthentication.normalizedThumbprint(text)
                                         })
        }
        try core.register(DeviceRecord(deviceID: deviceID, authentication: authentication))
    }

    /// Registers the CA certificate(s) of a PEM (a root, or a chain ending in the root).
    @discardableResult
    public func registerCertificateAuthority(pem: [UInt8], source: String = "(memory)") throws(HubError) -> [RegisteredCA] {
        try core.registerCertificateAuthorities(pem: pem, source: source)
    }

    public func devices() -> [DeviceRecord] { core.devices() }
    public func certificateAuthorities() -> [RegisteredCA] { core.certificateAuthorities() }
    public func isConnected(_ deviceID: String) -> Bool { core.isConnected(deviceID) }
    /// The IoT Plug and Play model id the device announced at its last connect (nil: none).
    public func modelID(_ deviceID: String) -> String? { core.modelID(deviceID) }
    /// The SHA-256 thumbprint of the certificate the device last connected with (nil: not this run).
    public func certificateThumbprint(_ deviceID: String) -> String? { core.certificateThumbprint(deviceID) }

    // MARK: DPS

    func requireDps() throws(HubError) -> DpsService {
        guard let dps else { throw .state("no DPS endpoint: start LocalHub with a DPS configuration (localhub serve --dps-port N)") }
        return dps
    }

    /// Enrolls a group: devices whose chain verifies up to `caPEM` (a root or an intermediate CA).
    public func dpsAddGroup(name: String, caPEM: [UInt8], enabled: Bool = true) throws(HubError) {
        try requireDps().add(DpsEnrollment(kind: .group, name: name, certificatePEM: String(decoding: caPEM, as: UTF8.self),
                                           enabled: enabled))
    }

    /// Enrolls one device by its leaf certificate (matched by SHA-256 thumbprint); `deviceID` is
    /// its id at the hub (nil: the registration id).
    public func dpsAddDevice(registrationID: String, certificatePEM: [UInt8], deviceID: String? = nil,
                             enabled: Bool = true) throws(HubError) {
        try requireDps().add(DpsEnrollment(kind: .individual, name: registrationID,
                                           certificatePEM: String(decoding: certificatePEM, as: UTF8.self),
                                           deviceID: deviceID, enabled: enabled))
    }

    /// Enables or disables the enrollment named `name` (a group name or a registration id).
    public func dpsSetEnabled(_ name: String, _ enabled: Bool) throws(HubError) { try requireDps().setEnabled(name, enabled) }

    public func dpsRemove(_ name: String) throws(HubError) { try requireDps().remove(name) }

    public func dpsEnrollments() -> [DpsEnrollment] { dps?.enrollments() ?? [] }

    /// Every device DPS assigned (the latest assignment per registration id).
    public func dpsRegistrations() -> [DpsRegistration] { dps?.registrations() ?? [] }

    // MARK: Twin, methods, C2D, telemetry

    public func twin(_ deviceID: String) throws(HubError) -> TwinDocument { try core.twin(deviceID) }

    /// Merges `patch` (a JSON object) into the desired properties and pushes it to the device
    /// if it is connected and subscribed; returns the new desired `$version`.
    @discardableResult
    public func setDesired(_ deviceID: String, patch: JSONValue) throws(HubError) -> Int {
        try core.setDesired(deviceID, patch: patch)
    }

    /// Calls a direct method and waits for the answer: the device's status and body, `404` when
    /// the device is offline or not subscribed to methods, `504` after `timeout` (A.11).
    public func invokeMethod(_ deviceID: String, name: String, payload: JSONValue? = nil,
                             timeout: Duration = IoTHubLimits.defaultMethodResponseTimeout) async -> MethodResult {
        await core.invokeMethod(deviceID, name: name, payload: payload?.encoded() ?? Array("null".utf8), timeout: timeout)
    }

    /// Sends a C2D message: delivered at once (`true`) when the device is connected and subscribed,
    /// else queued for it (`false`); refused beyond IoT Hub's 50 waiting (403004). A delivered
    /// message stays locked until the device's PUBACK and is delivered again when the lock runs
    /// out or the connection drops, up to ``CloudToDeviceLimits/maximumDeliveries`` times.
    @discardableResult
    public func sendCloudToDevice(_ deviceID: String, payload: [UInt8],
                                  properties: IoTHubPropertyBag = IoTHubPropertyBag()) throws(HubError) -> Bool {
        try core.sendCloudToDevice(deviceID, payload: payload, properties: properties)
    }

    /// C2D messages of `deviceID` (every device when nil): queued, locked, and since start
    /// completed, dead-lettered and expired.
    public func cloudToDeviceCounts(_ deviceID: String? = nil) -> CloudToDeviceCounts {
        core.cloudToDeviceCounts(deviceID)
    }

    /// Every telemetry record of `deviceID`, oldest first (this run and earlier ones).
    public func telemetry(_ deviceID: String) throws(HubError) -> [TelemetryRecord] {
        try core.telemetry.records(deviceID: deviceID)
    }

    /// Messages logged since start, all devices.
    public var telemetryCount: Int { core.telemetry.total }

    /// Metered messages used today and the daily limit, when a tier is emulated.
    public var quotaUsed: (used: Int, limit: Int)? { core.quotaUsed }

    /// Messages of `deviceID` since start that repeated a `$.mid`, counting each reading of a
    /// backlog batch by device id + its `seq` (IoT Hub is at-least-once: a device resends what it
    /// got no PUBACK for; consumers dedupe on `$.mid`, inside batches on `seq`).
    public func duplicateCount(_ deviceID: String) -> Int { core.telemetry.duplicates(deviceID: deviceID) }

    /// Calls `handler` (on an event-loop thread) for each new record of `deviceID` (all when
    /// `nil`) until ``cancelTelemetrySubscription(_:)``.
    public func subscribeTelemetry(deviceID: String?, _ handler: @escaping @Sendable (TelemetryRecord) -> Void) -> UInt64 {
        core.telemetry.subscribe(deviceID: deviceID, handler)
    }

    public func cancelTelemetrySubscription(_ id: UInt64) { core.telemetry.unsubscribe(id) }
}
