"""Reading a starting pod: which states mean it will never run, and what the user is told."""

from spawner.pod_failures import claim_failure, pod_failure


def pod(phase="Pending", containers=None, conditions=None, deleting=False):
    meta = {"name": "ws-a--b", "namespace": "ns", "uid": "u1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-28T00:00:00Z"
    status = {"phase": phase}
    if containers is not None:
        status["containerStatuses"] = containers
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": meta, "status": status}


def waiting(reason, message="", **extra):
    return {"name": "notebook", "image": "example.org/lab:1", "ready": False, "state": {"waiting": {"reason": reason, "message": message}}, **extra}


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}


def event(reason, message="", kind="Warning"):
    return {"reason": reason, "message": message, "type": kind, "involvedObject": {"name": "ws-a--b"}}


def test_a_pod_still_on_its_way_has_no_failure():
    assert pod_failure(pod()) is None
    assert pod_failure(pod("Running", [waiting("ContainerCreating")])) is None
    assert pod_failure(None) is None


def test_an_unschedulable_pod_fails_with_the_schedulers_words():
    failure = pod_failure(pod(conditions=[UNSCHEDULABLE]))
    assert failure.reason == "unschedulable" and failure.status_code == 503
    assert failure.message == "no node can run this workspace: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def test_a_failed_scheduling_event_is_enough():
    failure = pod_failure(pod(), [event("FailedScheduling", "0/2 nodes are available: 2 node(s) had untolerated taint.")])
    assert failure.reason == "unschedulable"
    assert "untolerated taint" in failure.message


def test_waiting_for_a_pvc_to_be_provisioned_is_not_a_failure():
    message = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    assert pod_failure(pod(), [event("FailedScheduling", message)]) is None


def test_a_scheduler_that_has_not_seen_the_new_claim_yet_is_not_a_failure():
    """The spawner makes the claim before the pod; the scheduler's cache may lag behind it."""
    message = '0/3 nodes are available: persistentvolumeclaim "ws-a--b" not found.'
    assert pod_failure(pod(), [event("FailedScheduling", message)]) is None
    assert pod_failure(pod(conditions=[{**UNSCHEDULABLE, "message": message}])) is None


def test_an_unschedulable_pod_may_still_get_room_until_the_autoscaler_says_no():
    assert pod_failure(pod(conditions=[UNSCHEDULABLE])).final is False
    events = [event("NotTriggerScaleUp", "pod didn't trigger scale-up: 2 max node group size reached", "Normal")]
    assert pod_failure(pod(conditions=[UNSCHEDULABLE]), events).final is True


def test_old_scheduling_events_of_a_scheduled_pod_are_history():
    scheduled = {"type": "PodScheduled", "status": "True"}
    events = [event("FailedScheduling", UNSCHEDULABLE["message"])]
    assert pod_failure(pod(conditions=[scheduled]), events) is None


def test_a_pod_waiting_for_a_preemption_is_waited_for():
    waiting_pod = pod(conditions=[UNSCHEDULABLE])
    waiting_pod["status"]["nominatedNodeName"] = "node-1"
    assert pod_failure(waiting_pod) is None


def test_a_pod_the_autoscaler_is_making_room_for_is_waited_for():
    events = [event("FailedScheduling", UNSCHEDULABLE["message"]), event("TriggeredScaleUp", "pod triggered scale-up", "Normal")]
    assert pod_failure(pod(conditions=[UNSCHEDULABLE]), events) is None


def test_an_image_that_cannot_be_pulled_fails_naming_the_image():
    failure = pod_failure(pod(containers=[waiting("ImagePullBackOff", "Back-off pulling image")]))
    assert failure.reason == "image" and failure.status_code == 502
    assert failure.message == "image example.org/lab:1 cannot be pulled (ImagePullBackOff: Back-off pulling image)"


def test_err_image_pull_fails_at_once():
    assert pod_failure(pod(containers=[waiting("ErrImagePull", "not found")])).reason == "image"


def test_a_crash_loop_fails_with_the_last_exit_code():
    container = waiting("CrashLoopBackOff", "back-off 10s", lastState={"terminated": {"exitCode": 3}})
    failure = pod_failure(pod("Running", [container]))
    assert failure.reason == "crash"
    assert failure.message == "the workspace server keeps crashing (CrashLoopBackOff, last exit code 3: back-off 10s)"


def test_a_missing_secret_or_configmap_fails_as_configuration():
    failure = pod_failure(pod(containers=[waiting("CreateContainerConfigError", 'secret "s3" not found')]))
    assert failure.reason == "config"
    assert 'secret "s3" not found' in failure.message


def test_a_server_that_exits_during_start_fails_with_its_exit_code():
    container = {"name": "notebook", "image": "x", "ready": False, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    failure = pod_failure(pod("Failed", [container]))
    assert failure.reason == "exited"
    assert failure.message == "the workspace server exited with code 1 (Error) during start"


def test_a_pod_being_deleted_is_not_judged():
    assert pod_failure(pod(conditions=[UNSCHEDULABLE], deleting=True)) is None


def test_a_failing_init_container_counts_too():
    failing = waiting("ImagePullBackOff")
    status = pod()
    status["status"]["initContainerStatuses"] = [{**failing, "name": "init"}]
    assert pod_failure(status).reason == "image"


def test_a_claim_being_provisioned_has_no_failure():
    assert claim_failure([]) is None
    assert claim_failure([event("ExternalProvisioning", "waiting for a volume to be created", "Normal")]) is None


def test_a_provisioner_giving_up_fails_the_claim_after_a_grace_with_its_words():
    failure = claim_failure([event("ProvisioningFailed", 'failed to provision volume with StorageClass "ssd": pool full')])
    assert failure.reason == "storage" and failure.status_code == 503 and not failure.final
    assert failure.message == 'the workspace\'s storage cannot be provisioned: failed to provision volume with StorageClass "ssd": pool full'


def test_a_class_that_does_not_exist_fails_the_claim_at_once():
    failure = claim_failure([event("ProvisioningFailed", 'storageclass.storage.k8s.io "ssd" not found')])
    assert failure.final and '"ssd" not found' in failure.message


def test_the_newest_provisioning_failure_is_the_one_told():
    failure = claim_failure([event("ProvisioningFailed", "first"), event("ProvisioningFailed", "second")])
    assert failure.message.endswith(": second")
