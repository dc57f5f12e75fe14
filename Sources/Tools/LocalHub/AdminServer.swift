#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import IoTHub
import JSON
import NIOCore
import NIOPosix
import SystemCalls

/// The admin side of LocalHub: a Unix socket in the state folder (mode 0600, so only the
/// hub's user can drive it), speaking ``AdminRequest`` lines. Never on the device port.
enum AdminServer {
    static func start(group: any EventLoopGroup, path: String, core: HubCore, dps: DpsService? = nil) async throws(HubError) -> any Channel {
        // A socket file that answers belongs to a running hub: refuse rather than steal it.
        if POSIX.exists(path) {
            if let probe = try? POSIX.connectUnix(path) {
                POSIX.close(probe.fd)
                throw .listen(what: "admin socket \(path)", reason: "another LocalHub is serving this state folder; "
                    + "stop it or use another --state-dir")
            }
        }
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AdminConnectionHandler(core: core, dps: dps))
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            try POSIX.chmod(path, mode: 0o600)
        } catch {
            throw .listen(what: "admin socket \(path)", reason: "\(error)")
        }
        return channel
    }
}

/// One admin client: splits lines, answers each request.
final class AdminConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: HubCore
    let dps: DpsService?
    var pending: [UInt8] = []
    var tailSubscription: UInt64?

    init(core: HubCore, dps: DpsService? = nil) {
        self.core = core
        self.dps = dps
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += unwrapInboundIn(data).readableBytesView
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if !line.isEmpty { answer(line, channel: context.channel) }
        }
        if pending.count > 4 * 1024 * 1024 {
            Self.send(.failure("request line longer than 4 MiB"), on: context.channel)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let tailSubscription { core.telemetry.unsubscribe(tailSubscription) }
        tailSubscription = nil
        context.fireChannelInactive()
    }

    static func send(_ response: AdminResponse, on channel: any Channel) {
        channel.writeAndFlush(ByteBuffer(bytes: response.line()), promise: nil)
    }

    func answer(_ line: [UInt8], channel: any Channel) {
        let request: AdminRequest
        do {
            request = try JSONDecoder().decode(AdminRequest.self, from: Data(line))
        } catch {
            Self.send(.failure("not an admin request (\(error)): \(String(decoding: line.prefix(200), as: UTF8.self))"),
                      on: channel)
            return
        }
        let core = self.core
        func required(_ value: String?, _ name: String) throws(HubError) -> String {
            guard let value, !value.isEmpty else { throw .invalidArgument("'\(request.op)' needs '\(name)'") }
            return value
        }
        do {
            switch request.op {
            case "device.add":
                let id = try required(request.deviceId, "deviceId")
                if let pem = request.caPEM {
                    _ = try core.registerCertificateAuthorities(pem: Array(pem.utf8), source: "the admin request")
                    try core.register(DeviceRecord(deviceID: id, authentication: .certificateAuthority))
                } else {
                    let primary = try DeviceAuthentication.normalizedThumbprint(try required(request.thumbprint, "thumbprint"))
                    let secondary = try request.secondaryThumbprint.map { (text) throws(HubError) -> String in
                        try DeviceAuthentication.normalizedThumbprint(text)
                    }
                    try core.register(DeviceRecord(deviceID: id, authentication: .thumbprint(primary: primary, secondary: secondary)))
                }
                Self.send(.success(Self.describe(id, core: core)), on: channel)
            case "device.list":
                Self.send(.success(.array(core.devices().map { Self.describe($0.deviceID, core: core) })), on: channel)
            case "twin.show":
                let id = try required(request.deviceId, "deviceId")
                Self.send(.success(try core.twin(id).deviceView), on: channel)
            case "twin.set":
                let id = try required(request.deviceId, "deviceId")
                guard let patch = request.patch else { throw HubError.invalidArgument("'twin.set' needs 'patch'") }
                let version = try core.setDesired(id, patch: patch)
                Self.send(.success(.object(["$version": .integer(Int64(version))])), on: channel)
            case "method":
                let id = try required(request.deviceId, "deviceId")
                let name = try required(request.method, "method")
                let seconds = request.timeoutSeconds ?? 30
                guard seconds > 0, seconds <= 300 else {
                    throw HubError.invalidArgument("timeoutSeconds must be in (0, 300] (IoT Hub allows 5…300 s), got \(seconds)")
                }
                Self.invoke(core: core, deviceID: id, name: name, payload: (request.payload ?? .null).encoded(),
                            timeout: .milliseconds(Int64(seconds * 1000)), answerOn: channel)
            case "c2d":
                let id = try required(request.deviceId, "deviceId")
                var bag = IoTHubPropertyBag()
                for (name, value) in (request.properties ?? [:]).sorted(by: { $0.key < $1.key }) { bag.append(name, value) }
                let payload: [UInt8]
                if case .string(let text)? = request.payload { payload = Array(text.utf8) } else {
                    payload = (request.payload ?? .null).encoded()
                }
                let delivered = try core.sendCloudToDevice(id, payload: payload, properties: bag)
                var answer = core.cloudToDeviceCounts(id).json.objectValue ?? [:]
                answer["delivered"] = .bool(delivered)
                Self.send(.success(.object(answer)), on: channel)
            case "c2d.status":
                let id = try required(request.deviceId, "deviceId")
                guard core.devices().contains(where: { $0.deviceID == id }) else { throw HubError.unknownDevice(id) }
                var answer = core.cloudToDeviceCounts(id).json.objectValue ?? [:]
                answer["messages"] = .array(core.cloudToDeviceMessages(id).map(Self.describe))
                Self.send(.success(.object(answer)), on: channel)
            case "liveness":
                Self.send(.success(.array(core.liveness().map(\.json))), on: channel)
            case "stats":
                let connected = core.devices().filter { core.isConnected($0.deviceID) }.count
                Self.send(.success(.object(["telemetry": .integer(Int64(core.telemetry.total)),
                                            "connected": .integer(Int64(connected)),
                                            "devices": .integer(Int64(core.devices().count)),
                                            "c2d": core.cloudToDeviceCounts().json])), on: channel)
            case "tail":
                if let old = tailSubscription { core.telemetry.unsubscribe(old) }
                Self.send(.success(.string("tailing")), on: channel)
                tailSubscription = core.telemetry.subscribe(deviceID: request.deviceId) { record in
                    Self.send(AdminResponse(telemetry: record), on: channel)
                }
            case let op where op.hasPrefix("dps."):
                guard let dps else {
                    throw HubError.state("this LocalHub has no DPS endpoint; start it with: localhub serve --dps-port 0")
                }
                Self.send(.success(try Self.answerDps(request, dps: dps, required: required)), on: channel)
            default:
                throw HubError.invalidArgument("unknown op '\(request.op)'; expected device.add, device.list, twin.show, "
                    + "twin.set, method, c2d, c2d.status, liveness, stats, tail or dps.*")
            }
        } catch {
            Self.send(.failure("\(error)"), on: channel)
        }
    }

    static func answerDps(_ request: AdminRequest, dps: DpsService,
                          required: (String?, String) throws(HubError) -> String) throws(HubError) -> JSONValue {
        switch request.op {
        case "dps.add-group":
            let enrollment = DpsEnrollment(kind: .group, name: try required(request.name, "name"),
                                           certificatePEM: try required(request.caPEM, "caPEM"), enabled: request.enabled ?? true)
            try dps.add(enrollment)
            return describe(enrollment)
        case "dps.add-device":
            let enrollment = DpsEnrollment(kind: .individual, name: try required(request.name, "name"),
                                           certificatePEM: try required(request.certificatePEM, "certificatePEM"),
                                           deviceID: request.deviceId, enabled: request.enabled ?? true)
            try dps.add(enrollment)
            return describe(enrollment)
        case "dps.list":
            return .array(dps.enrollments().map(describe))
        case "dps.remove":
            try dps.remove(try required(request.name, "name"))
            return .null
        case "dps.enable", "dps.disable":
            let name = try required(request.name, "name")
            try dps.setEnabled(name, request.op == "dps.enable")
            return dps.enrollments().first { $0.name.lowercased() == name.lowercased() }.map(describe) ?? .null
        case "dps.registrations":
            let format = Date.ISO8601FormatStyle(includingFractionalSeconds: false)
            return .array(dps.registrations().map { registration in
                .object(["registrationId": .string(registration.registrationId), "deviceId": .string(registration.deviceId),
                         "assignedHub": .string(registration.assignedHub),
                         "issuedThumbprint": registration.issuedThumbprint.map(JSONValue.string) ?? .null,
                         "at": .string(registration.at.formatted(format))])
            })
        default:
            throw .invalidArgument("unknown op '\(request.op)'; expected dps.add-group, dps.add-device, dps.list, dps.remove, "
                + "dps.enable, dps.disable or dps.registrations")
        }
    }

    static func describe(_ enrollment: DpsEnrollment) -> JSONValue {
        let certificate = try? X509Certificate.parseChain(pem: Array(enrollment.certificatePEM.utf8), source: enrollment.name).first
        return .object(["kind": .string(enrollment.kind.rawValue), "name": .string(enrollment.name),
                        "subject": .string(certificate?.subject ?? "?"),
                        "sha256Thumbprint": .string(certificate?.sha256Thumbprint ?? "?"),
                        "deviceId": enrollment.deviceID.map(JSONValue.string) ?? .null, "enabled": .bool(enrollment.enabled)])
    }

    /// Calls the method without blocking the event loop; answers when the device (or the time-out) does.
    static func invoke(core: HubCore, deviceID: String, name: String, payload: [UInt8], timeout: Duration,
                       answerOn channel: any Channel) {
        Task {
            let result = await core.invokeMethod(deviceID, name: name, payload: payload, timeout: timeout)
            let body: JSONValue = result.json ?? .string(String(decoding: result.payload, as: UTF8.self))
            send(.success(.object(["status": .integer(Int64(result.status)), "payload": body])), on: channel)
        }
    }

    static func describe(_ message: CloudToDeviceQueue.Message) -> JSONValue {
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return .object(["id": .integer(Int64(clamping: message.id)), "deliveries": .integer(Int64(message.deliveries)),
                        "locked": .bool(message.isLocked), "expires": .string(message.expires.formatted(format)),
                        "bytes": .integer(Int64(message.payload.count))])
    }

    static func describe(_ deviceID: String, core: HubCore) -> JSONValue {
        let record = core.devices().first { $0.deviceID == deviceID }
        var fields: [String: JSONValue] = ["deviceId": .string(deviceID), "connected": .bool(core.isConnected(deviceID))]
        if let model = core.modelID(deviceID) { fields["modelId"] = .string(model) }
        if let thumbprint = core.certificateThumbprint(deviceID) { fields["connectedThumbprint"] = .string(thumbprint) }
        switch record?.authentication {
        case let .thumbprint(primary, secondary)?:
            fields["authentication"] = .string("selfSigned")
            fields["primaryThumbprint"] = .string(primary)
            fields["secondaryThumbprint"] = secondary.map(JSONValue.string) ?? .null
        case .certificateAuthority?:
            fields["authentication"] = .string("certificateAuthority")
        case nil:
            break
        }
        return .object(fields)
    }
}
