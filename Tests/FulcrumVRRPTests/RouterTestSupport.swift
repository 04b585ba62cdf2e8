import FulcrumAddress
import FulcrumVRRP
import XCTest

let vip = ip("198.18.0.100")
let nodeA = ip("198.18.0.11")
let nodeB = ip("198.18.0.12")
let nodeC = ip("198.18.0.13")

func configuration(priority: UInt8, address: IPAddress = nodeB, centiseconds: Int = 10,
                   preemption: VRRPPreemption = .immediate, vrid: UInt8 = 42) -> VRRPRouterConfiguration {
    try! VRRPRouterConfiguration(virtualRouterID: vrid, priority: priority, advertInterval: interval(centiseconds),
                                 preemption: preemption, primaryAddress: address,
                                 virtualAddresses: address.isIPv4 ? [vip] : [ip("fd00:198:18::100")])
}

func advert(priority: UInt8, centiseconds: Int = 10, vrid: UInt8 = 42) -> VRRPAdvert {
    VRRPAdvert(virtualRouterID: vrid, priority: priority, maxAdvertInterval: interval(centiseconds), addresses: [vip])
}

/// A router that started at t=0 and is in Backup.
func backupRouter(priority: UInt8 = 100, address: IPAddress = nodeB, centiseconds: Int = 10,
                  preemption: VRRPPreemption = .immediate) -> VRRPRouter {
    var router = VRRPRouter(configuration: configuration(priority: priority, address: address, centiseconds: centiseconds,
                                                          preemption: preemption))
    _ = router.start(now: ms(0))
    return router
}

/// A router that heard no one and became Master; returns it and the takeover instant.
func masterRouter(priority: UInt8 = 100, address: IPAddress = nodeB, centiseconds: Int = 10,
                  preemption: VRRPPreemption = .immediate) -> (VRRPRouter, VRRPInstant) {
    var router = backupRouter(priority: priority, address: address, centiseconds: centiseconds, preemption: preemption)
    let deadline = router.nextDeadline!
    let output = router.timerExpired(now: deadline)
    precondition(router.state == .master, "\(output)")
    return (router, deadline)
}
