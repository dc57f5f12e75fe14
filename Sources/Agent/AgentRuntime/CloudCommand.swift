import JSON

/// What a cloud-to-device message asks of the agent: `{"command": "identify", "seconds": 10}`
/// blinks the status LED (1…300 s, default 10), `{"command": "sendNow"}` sends the raw message of
/// the period in progress at once; anything else is only logged.
enum CloudCommand: Equatable, Sendable {
    case identify(seconds: Double)
    case sendNow
    case unknown(String)

    init(payload: [UInt8]) {
        guard let body = try? JSONValue.parse(payload), case .string(let name)? = body["command"] else {
            self = .unknown("not a JSON object with a command")
            return
        }
        switch name {
        case "identify":
            let seconds = body["seconds"]?.doubleValue ?? 10
            self = (1...300).contains(seconds) ? .identify(seconds: seconds) : .unknown("identify seconds must be 1…300")
        case "sendNow":
            self = .sendNow
        default:
            self = .unknown("'\(name.prefix(64))' is not a command this agent handles (identify, sendNow)")
        }
    }
}
