/** Picks the zone the console shows times in; the browser's zone is the default and says so. */
import { useMemo } from 'react';
import { allTimeZones, BROWSER_TIME_ZONE, useTimeZone, zoneOffsetLabel } from '../../lib/timeZone.js';

export function TimeZoneSelect({ id = 'time-zone' }: { id?: string }) {
  const { timeZone, setTimeZone } = useTimeZone();
  const zones = useMemo(() => {
    const list = allTimeZones().filter((z) => z !== BROWSER_TIME_ZONE && z !== 'UTC');
    return list;
  }, []);
  return (
    <div className="field field--inline tz-select">
      <label htmlFor={id}>Time zone</label>
      <select id={id} className="input select" value={timeZone} onChange={(e) => setTimeZone(e.target.value)}>
        <option value={BROWSER_TIME_ZONE}>
          {BROWSER_TIME_ZONE} (this browser, {zoneOffsetLabel(BROWSER_TIME_ZONE)})
        </option>
        {BROWSER_TIME_ZONE !== 'UTC' ? <option value="UTC">UTC</option> : null}
        <optgroup label="Other zones">
          {zones.map((z) => (
            <option key={z} value={z}>
              {z.replace(/_/g, ' ')}
            </option>
          ))}
        </optgroup>
      </select>
    </div>
  );
}
