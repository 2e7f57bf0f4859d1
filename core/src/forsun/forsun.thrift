/*
 * The forsun RPC interface (DESIGN 3.2): binary protocol over a buffered (not framed)
 * transport, default port 6458. Field ids, types and defaults are part of the wire
 * contract with existing clients: never renumber or retype them; add new fields or
 * methods only.
 *
 * Error codes of ForsunPlanError: 1001 unknown error, 1002 the time will never arrive,
 * 1003 plan not found, 1004 storing the plan failed, 1005 removing it failed,
 * 1006 unknown action, 1007 a required argument is missing.
 */

exception ForsunPlanError {
    1: i16 code,
    2: string message
}

/*
 * A plan as the server reports it. In delay mode (is_time_out) the schedule fields are
 * an interval; in fixed-time mode each is an exact value or -1 for "any".
 * count 0 means forever; next_time and last_timeout are unix seconds.
 */
struct ForsunPlan {
    1: required bool is_time_out,
    2: required string key,
    3: required i16 second,
    4: i16 minute = -1,
    5: i16 hour = -1,
    6: i16 day = -1,
    7: i16 month = -1,
    8: i16 week = -1,
    9: required i32 next_time,
    10: i16 status = 0,
    11: i16 count = 0,
    12: i16 current_count = 0,
    13: i32 last_timeout = 0,
    14: string action = "shell",
    15: map<string, string> params = {}
}

service Forsun {
    /* Always 0: the server is up. */
    i16 ping(),

    /* A fixed-time plan; an existing plan with this key is replaced, an empty key gets
       a generated one. */
    ForsunPlan create(1: string key, 2: i16 second, 3: i16 minute = -1, 4: i16 hour = -1,
                      5: i16 day = -1, 6: i16 month = -1, 7: i16 week = -1,
                      8: string action = "shell", 9: map<string, string> params = {})
        throws (1: ForsunPlanError err),

    /* A delay plan: fires after the interval, then every interval, count times
       (0: forever). */
    ForsunPlan createTimeout(1: string key, 2: i16 second, 3: i16 minute = -1,
                             4: i16 hour = -1, 5: i16 day = -1, 6: i16 month = -1,
                             7: i16 week = -1, 8: i16 count = 1, 9: string action = "shell",
                             10: map<string, string> params = {})
        throws (1: ForsunPlanError err),

    ForsunPlan remove(1: string key) throws (1: ForsunPlanError err),

    ForsunPlan get(1: string key) throws (1: ForsunPlanError err),

    /* Plans due at the current second. */
    list<ForsunPlan> getCurrent(),

    /* Plans due at this unix second (0: the current one). */
    list<ForsunPlan> getTime(1: i32 timestamp),

    /* Keys starting with prefix, sorted. */
    list<string> getKeys(1: string prefix),

    /* Server figures as strings (the keys `forsun info` prints, and more). */
    map<string, string> info(),

    /* What the thrift action calls on a target server; forsund accepts and ignores it. */
    void forsun_call(1: string key, 2: i32 ts, 3: map<string, string> params)
}
