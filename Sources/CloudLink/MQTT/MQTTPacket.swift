/// Quality of service of a PUBLISH or a subscription (MQTT 3.1.1 §4.3).
///
/// The codec carries all three levels because it also serves the server side (LocalHub); the
/// client session never offers ``exactlyOnce`` (IoT Hub closes the connection on QoS 2,
/// protocol sheet A.6).
public enum MQTTQoS: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public var description: String { "QoS \(rawValue)" }
}

/// The control packet type in the high nibble of the first byte (MQTT 3.1.1 §2.2.1, table 2.1).
public enum MQTTPacketType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case connect = 1
    case connAck = 2
    case publish = 3
    case pubAck = 4
    case pubRec = 5
    case pubRel = 6
    case pubComp = 7
    case subscribe = 8
    case subAck = 9
    case unsubscribe = 10
    case unsubAck = 11
    case pingReq = 12
    case pingResp = 13
    case disconnect = 14

    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .connAck: "CONNACK"
        case .publish: "PUBLISH"
        case .pubAck: "PUBACK"
        case .pubRec: "PUBREC"
        case .pubRel: "PUBREL"
        case .pubComp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .subAck: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsubAck: "UNSUBACK"
        case .pingReq: "PINGREQ"
        case .pingResp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        }
    }

    /// The flag nibble every packet type except PUBLISH must carry (§2.2.2, table 2.2):
    /// `0b0010` for PUBREL, SUBSCRIBE and UNSUBSCRIBE, `0` for the rest. `nil` for PUBLISH, whose
    /// flags are DUP, QoS and RETAIN.
    public var requiredFlags: UInt8? {
        switch self {
        case .publish: nil
        case .pubRel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }

    /// Whether a client may send this packet type (the rest only flow from the server).
    public var isSentByClient: Bool {
        switch self {
        case .connect, .publish, .pubAck, .pubRec, .pubRel, .pubComp, .subscribe, .unsubscribe,
             .pingReq, .disconnect: true
        case .connAck, .subAck, .unsubAck, .pingResp: false
        }
    }

    /// Whether a server may send this packet type.
    public var isSentByServer: Bool {
        switch self {
        case .connAck, .publish, .pubAck, .pubRec, .pubRel, .pubComp, .subAck, .unsubAck, .pingResp: true
        case .connect, .subscribe, .unsubscribe, .pingReq, .disconnect: false
        }
    }
}

/// One MQTT 3.1.1 control packet, as the codec reads and writes it.
///
/// ## Contract
/// - Strings are Swift `String`s: valid UTF-8 by construction. The encoder still refuses
///   U+0000 and strings longer than 65,535 bytes (§1.5.3), so everything it writes, the strict
///   ``MQTTDecoder`` reads back unchanged.
/// - A packet identifier is never 0 where one is present (§2.3.1).
/// - The protocol name and level of CONNECT are fixed to `MQTT` / 4: this codec speaks 3.1.1 only.
public enum MQTTPacket: Sendable, Hashable {
    case connect(Connect)
    case connAck(ConnAck)
    case publish(Publish)
    case pubAck(PubAck)
    case pubRec(PubRec)
    case pubRel(PubRel)
    case pubComp(PubComp)
    case subscribe(Subscribe)
    case subAck(SubAck)
    case unsubscribe(Unsubscribe)
    case unsubAck(UnsubAck)
    case pingReq
    case pingResp
    case disconnect

    public var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connAck: .connAck
        case .publish: .publish
        case .pubAck: .pubAck
        case .pubRec: .pubRec
        case .pubRel: .pubRel
        case .pubComp: .pubComp
        case .subscribe: .subscribe
        case .subAck: .subAck
        case .unsubscribe: .unsubscribe
        case .unsubAck: .unsubAck
        case .pingReq: .pingReq
        case .pingResp: .pingResp
        case .disconnect: .disconnect
        }
    }
}

extension MQTTPacket {
    /// CONNECT (§3.1): the first packet a client sends on a new connection.
    public struct Connect: Sendable, Hashable {
        /// The client identifier (IoT Hub: the device id, protocol sheet A.2). May be empty only
        /// with `cleanSession` (the server then answers CONNACK 2 otherwise, §3.1.3.1).
        public var clientID: String
        /// `false` keeps the session (subscriptions, unacknowledged QoS 1) across connections.
        public var cleanSession: Bool
        /// Seconds; 0 turns keep-alive off (§3.1.2.10).
        public var keepAliveSeconds: UInt16
        public var will: Will?
        public var username: String?
        /// Binary data (§3.1.3.5). Needs a `username` (§3.1.2.9, [MQTT-3.1.2-22]).
        public var password: [UInt8]?

        public init(clientID: String, cleanSession: Bool, keepAliveSeconds: UInt16, will: Will? = nil,
                    username: String? = nil, password: [UInt8]? = nil) {
            self.clientID = clientID
            self.cleanSession = cleanSession
            self.keepAliveSeconds = keepAliveSeconds
            self.will = will
            self.username = username
            self.password = password
        }
    }

    /// The will message of a CONNECT (§3.1.2.5–3.1.2.7, §3.1.3.2–3.1.3.3).
    public struct Will: Sendable, Hashable {
        /// A topic name (no wildcards). IoT Hub wants a telemetry topic (protocol sheet A.6).
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// CONNACK (§3.2).
    public struct ConnAck: Sendable, Hashable {
        /// The server resumed a stored session. Always `false` when `returnCode` refuses.
        public var sessionPresent: Bool
        public var returnCode: ReturnCode

        public init(sessionPresent: Bool, returnCode: ReturnCode) {
            self.sessionPresent = sessionPresent
            self.returnCode = returnCode
        }

        /// CONNACK return codes (§3.2.2.3, table 3.1; protocol sheet A.12).
        public enum ReturnCode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
            case accepted = 0
            case unacceptableProtocolVersion = 1
            case identifierRejected = 2
            case serverUnavailable = 3
            case badUsernameOrPassword = 4
            case notAuthorized = 5

            public var description: String {
                switch self {
                case .accepted: "0 connection accepted"
                case .unacceptableProtocolVersion: "1 unacceptable protocol version (the server does not speak MQTT 3.1.1)"
                case .identifierRejected: "2 client identifier rejected (check the device id)"
                case .serverUnavailable: "3 server unavailable (retry later with backoff)"
                case .badUsernameOrPassword: "4 bad user name or password (check the host name, device id and credentials)"
                case .notAuthorized: "5 not authorized (check the device certificate and its registration)"
                }
            }
        }
    }

    /// PUBLISH (§3.3).
    public struct Publish: Sendable, Hashable {
        /// A topic name: at least one character, no `+` or `#` (§4.7).
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool
        /// Redelivery of an earlier attempt (§3.3.1.1); must be `false` at QoS 0.
        public var dup: Bool
        /// Present (and non-zero) exactly when `qos` is above 0.
        public var packetID: UInt16?

        public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                    dup: Bool = false, packetID: UInt16? = nil) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.dup = dup
            self.packetID = packetID
        }
    }

    /// PUBACK (§3.4): the answer to a QoS 1 PUBLISH.
    public struct PubAck: Sendable, Hashable {
        public var packetID: UInt16
        public init(packetID: UInt16) { self.packetID = packetID }
    }

    /// PUBREC (§3.5), QoS 2 step 1. The client session never uses QoS 2; the codec keeps it for
    /// completeness and for rejecting it precisely.
    public struct PubRec: Sendable, Hashable {
        public var packetID: UInt16
        public init(packetID: UInt16) { self.packetID = packetID }
    }

    /// PUBREL (§3.6), QoS 2 step 2; its flag nibble is `0b0010`.
    public struct PubRel: Sendable, Hashable {
        public var packetID: UInt16
        public init(packetID: UInt16) { self.packetID = packetID }
    }

    /// PUBCOMP (§3.7), QoS 2 step 3.
    public struct PubComp: Sendable, Hashable {
        public var packetID: UInt16
        public init(packetID: UInt16) { self.packetID = packetID }
    }

    /// One topic filter of a SUBSCRIBE with the maximum QoS asked for (§3.8.3).
    public struct Subscription: Sendable, Hashable {
        public var filter: String
        public var qos: MQTTQoS

        public init(filter: String, qos: MQTTQoS) {
            self.filter = filter
            self.qos = qos
        }
    }

    /// SUBSCRIBE (§3.8): at least one subscription; flag nibble `0b0010`.
    public struct Subscribe: Sendable, Hashable {
        public var packetID: UInt16
        public var subscriptions: [Subscription]

        public init(packetID: UInt16, subscriptions: [Subscription]) {
            self.packetID = packetID
            self.subscriptions = subscriptions
        }
    }

    /// SUBACK (§3.9): one return code per subscription, in order.
    public struct SubAck: Sendable, Hashable {
        public var packetID: UInt16
        public var returnCodes: [ReturnCode]

        public init(packetID: UInt16, returnCodes: [ReturnCode]) {
            self.packetID = packetID
            self.returnCodes = returnCodes
        }

        /// §3.9.3: 0x00–0x02 grant a maximum QoS, 0x80 is a failure.
        public enum ReturnCode: Sendable, Hashable, CustomStringConvertible {
            case granted(MQTTQoS)
            case failure

            public var rawValue: UInt8 {
                switch self {
                case .granted(let qos): qos.rawValue
                case .failure: 0x80
                }
            }

            public init?(rawValue: UInt8) {
                if rawValue == 0x80 {
                    self = .failure
                } else if let qos = MQTTQoS(rawValue: rawValue) {
                    self = .granted(qos)
                } else {
                    return nil
                }
            }

            public var description: String {
                switch self {
                case .granted(let qos): "granted \(qos)"
                case .failure: "failure (0x80)"
                }
            }
        }
    }

    /// UNSUBSCRIBE (§3.10): at least one topic filter; flag nibble `0b0010`.
    public struct Unsubscribe: Sendable, Hashable {
        public var packetID: UInt16
        public var filters: [String]

        public init(packetID: UInt16, filters: [String]) {
            self.packetID = packetID
            self.filters = filters
        }
    }

    /// UNSUBACK (§3.11).
    public struct UnsubAck: Sendable, Hashable {
        public var packetID: UInt16
        public init(packetID: UInt16) { self.packetID = packetID }
    }
}
