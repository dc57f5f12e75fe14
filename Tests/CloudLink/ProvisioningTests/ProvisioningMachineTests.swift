import Provisioning
import Testing

/// Event scripts through the register/poll machine; time is whatever each step says.
@Suite struct ProvisioningMachineTests {
    let registration = DPSRegistration(idScope: "0ne00LOCAL1", registrationID: "dev1")
    let assignedBody = Array(#"""
    {"operationId":"op1","status":"assigned","registrationState":{"registrationId":"dev1","assignedHub":"localhost",
     "deviceId":"dev1","status":"assigned","substatus":"initialAssignment"}}
    """#.utf8)

    func started(_ limits: ProvisioningMachine.Limits = .init()) -> ProvisioningMachine {
        var machine = ProvisioningMachine(registration: registration, limits: limits)
        #expect(machine.handle(.connected, at: .zero)
            == [.subscribe(filter: "$dps/registrations/res/#"), .scheduleTick(at: .seconds(30))])
        #expect(machine.handle(.subscribed(granted: true), at: .seconds(1))
            == [.publish(topic: "$dps/registrations/PUT/iotdps-register/?$rid=1", payload: Array(#"{"registrationId":"dev1"}"#.utf8)),
                .scheduleTick(at: .seconds(31))])
        return machine
    }

    @Test func registerWaitPollAssigned() {
        var machine = started()
        #expect(machine.handle(.message(topic: "$dps/registrations/res/202/?$rid=1&retry-after=3",
                                        payload: Array(#"{"operationId":"op1","status":"assigning"}"#.utf8)), at: .seconds(2))
            == [.scheduleTick(at: .seconds(5))])
        #expect(machine.handle(.tick, at: .seconds(4)) == [])
        #expect(machine.handle(.tick, at: .seconds(5))
            == [.publish(topic: "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op1", payload: []),
                .scheduleTick(at: .seconds(35))])
        // Without retry-after the wait is the contract's 1 s.
        #expect(machine.handle(.message(topic: "$dps/registrations/res/202/?$rid=2",
                                        payload: Array(#"{"operationId":"op1","status":"assigning"}"#.utf8)), at: .seconds(6))
            == [.scheduleTick(at: .seconds(7))])
        #expect(machine.handle(.tick, at: .seconds(7)).first
            == .publish(topic: "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=3&operationId=op1", payload: []))
        // An answer for an older request is ignored.
        #expect(machine.handle(.message(topic: "$dps/registrations/res/200/?$rid=2", payload: assignedBody), at: .seconds(8)) == [])
        #expect(machine.handle(.message(topic: "$dps/registrations/res/200/?$rid=3", payload: assignedBody), at: .seconds(8))
            == [.assigned(ProvisioningAssignment(registrationID: "dev1", assignedHub: "localhost", deviceID: "dev1",
                                                 substatus: "initialAssignment", operationID: "op1"))])
        #expect(machine.isFinished)
        #expect(machine.polls == 2)
        #expect(machine.handle(.tick, at: .seconds(100)) == [])
    }

    @Test func immediateAssignmentWithIssuedChain() {
        var machine = started()
        let body = Array(#"""
        {"operationId":"op","status":"assigned","registrationState":{"assignedHub":"hub.example","deviceId":"d-7",
         "status":"assigned","issuedCertificateChain":["AAA=","BBB="]}}
        """#.utf8)
        #expect(machine.handle(.message(topic: "$dps/registrations/res/200/?$rid=1", payload: body), at: .seconds(2))
            == [.assigned(ProvisioningAssignment(registrationID: "dev1", assignedHub: "hub.example", deviceID: "d-7",
                                                 issuedCertificateChain: ["AAA=", "BBB="], operationID: "op"))])
    }

    @Test func finalRefusalNamesTheFix() {
        var machine = started()
        let actions = machine.handle(.message(topic: "$dps/registrations/res/401/?$rid=1", payload: Array(
            #"{"errorCode":401002,"trackingId":"t","message":"no enrollment matches","timestampUtc":"x"}"#.utf8)), at: .seconds(2))
        #expect(actions == [.failed(.refused(registrationID: "dev1", httpStatus: 401, errorCode: 401002,
                                             message: "no enrollment matches"))])
        guard case .failed(let error) = actions.first else { return }
        #expect(error.description.contains("add an enrollment group for the CA that issued the device certificate"))
        #expect(machine.isFinished)
    }

    @Test func disabledAndFailedStatusesAreFinal() {
        var machine = started()
        #expect(machine.handle(.message(topic: "$dps/registrations/res/200/?$rid=1", payload: Array(
            #"{"operationId":"o","status":"disabled","registrationState":{"status":"disabled"}}"#.utf8)), at: .seconds(2))
            == [.failed(.refused(registrationID: "dev1", httpStatus: 403, errorCode: nil, message: "the enrollment is disabled"))])
        var failing = started()
        #expect(failing.handle(.message(topic: "$dps/registrations/res/200/?$rid=1", payload: Array(
            #"{"operationId":"o","status":"failed","registrationState":{"status":"failed","errorCode":400209,"errorMessage":"custom allocation failed"}}"#.utf8)),
                               at: .seconds(2))
            == [.failed(.refused(registrationID: "dev1", httpStatus: 200, errorCode: 400209, message: "custom allocation failed"))])
    }

    @Test func throttledThenServerErrorRetriedWithRetryAfterAndBackoff() {
        var machine = started()
        // 429 with retry-after 5: the register is sent again (fresh $rid) after 5 s.
        #expect(machine.handle(.message(topic: "$dps/registrations/res/429/?$rid=1&retry-after=5", payload: Array(
            #"{"errorCode":429001,"message":"throttled"}"#.utf8)), at: .seconds(2)) == [.scheduleTick(at: .seconds(7))])
        #expect(machine.handle(.tick, at: .seconds(7)).first
            == .publish(topic: "$dps/registrations/PUT/iotdps-register/?$rid=2", payload: Array(#"{"registrationId":"dev1"}"#.utf8)))
        // 503 without retry-after: the doubling backoff (base 2 s, second retry: 4 s).
        #expect(machine.handle(.message(topic: "$dps/registrations/res/503/?$rid=2", payload: []), at: .seconds(8))
            == [.scheduleTick(at: .seconds(12))])
        #expect(machine.retries == 2)
    }

    @Test func retriesAreBounded() {
        var limits = ProvisioningMachine.Limits()
        limits.maximumRetries = 1
        var machine = started(limits)
        #expect(machine.handle(.message(topic: "$dps/registrations/res/500/?$rid=1", payload: []), at: .seconds(2))
            == [.scheduleTick(at: .seconds(4))])
        _ = machine.handle(.tick, at: .seconds(4))
        #expect(machine.handle(.message(topic: "$dps/registrations/res/500/?$rid=2", payload: Array(#"{"message":"down"}"#.utf8)),
                               at: .seconds(5))
            == [.failed(.tooManyRetries(1, lastStatus: 500, message: "down"))])
    }

    @Test func pollsAreBounded() {
        var limits = ProvisioningMachine.Limits()
        limits.maximumPolls = 2
        var machine = started(limits)
        let assigning = Array(#"{"operationId":"op1","status":"assigning"}"#.utf8)
        var now = Duration.seconds(2)
        for rid in 1...3 {
            let actions = machine.handle(.message(topic: "$dps/registrations/res/202/?$rid=\(rid)", payload: assigning), at: now)
            now += .seconds(1)
            if rid == 3 {
                #expect(actions == [.failed(.tooManyPolls(2))])
            } else {
                #expect(actions == [.scheduleTick(at: now)])
                _ = machine.handle(.tick, at: now)
            }
        }
        #expect(machine.polls == 2)
    }

    @Test func noAnswerTimesOut() {
        var machine = started()
        #expect(machine.handle(.tick, at: .seconds(30)) == [])
        #expect(machine.handle(.tick, at: .seconds(31))
            == [.failed(.noResponse(what: "register request", after: .seconds(30)))])
        var subscribing = ProvisioningMachine(registration: registration)
        _ = subscribing.handle(.connected, at: .zero)
        #expect(subscribing.nextDeadline == .seconds(30))
        #expect(subscribing.handle(.tick, at: .seconds(30)) == [.failed(.noResponse(what: "subscription", after: .seconds(30)))])
    }

    @Test func refusedSubscriptionAndLostConnection() {
        var machine = ProvisioningMachine(registration: registration)
        _ = machine.handle(.connected, at: .zero)
        #expect(machine.handle(.subscribed(granted: false), at: .zero) == [.failed(.subscriptionRefused)])
        var lost = started()
        #expect(lost.handle(.connectionLost("reset by peer"), at: .seconds(3)) == [.failed(.connection("reset by peer"))])
    }

    @Test func assignedWithoutHubIsIncomplete() {
        var machine = started()
        #expect(machine.handle(.message(topic: "$dps/registrations/res/200/?$rid=1", payload: Array(
            #"{"operationId":"o","status":"assigned","registrationState":{"deviceId":"dev1","status":"assigned"}}"#.utf8)),
                               at: .seconds(2))
            == [.failed(.incompleteAssignment("an assignedHub"))])
    }

    @Test func retryAfterIsCapped() {
        var machine = started()
        #expect(machine.handle(.message(topic: "$dps/registrations/res/202/?$rid=1&retry-after=86400", payload: Array(
            #"{"operationId":"op1","status":"assigning"}"#.utf8)), at: .seconds(2)) == [.scheduleTick(at: .seconds(302))])
    }
}
