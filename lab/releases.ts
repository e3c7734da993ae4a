/**
 * The Glance releases the lab can run: OpenStack release name -> the Glance version on PyPI and the
 * upper-constraints file (in lab/pins/) that pins its dependencies.
 * scripts/setup-glance.sh reads this table too (one release per line, keep the layout).
 */
export interface GlanceRelease {
  glanceVersion: string;
  constraintsFile: string;
  /**
   * The WSGI server installed beside Glance (a pip requirement), for releases that ship the
   * `glance.wsgi.api` module (30.0.0 on): a lab node of such a release can run under uWSGI.
   */
  wsgiServer?: string;
}

// One release per line, the layout scripts/setup-glance.sh parses (so prettier leaves it alone).
// prettier-ignore
export const RELEASES: Readonly<Record<string, GlanceRelease>> = {
  "2023.1": { glanceVersion: "26.1.0", constraintsFile: "lab/pins/upper-constraints-2023.1.txt" },
  "2023.2": { glanceVersion: "27.1.1", constraintsFile: "lab/pins/upper-constraints-2023.2.txt" },
  "2024.1": { glanceVersion: "28.2.0", constraintsFile: "lab/pins/upper-constraints-2024.1.txt" },
  "2024.2": { glanceVersion: "29.2.1", constraintsFile: "lab/pins/upper-constraints-2024.2.txt" },
  "2025.1": { glanceVersion: "30.2.0", constraintsFile: "lab/pins/upper-constraints-2025.1.txt", wsgiServer: "pyuwsgi==2.0.30.post1" },
  "2025.2": { glanceVersion: "31.1.0", constraintsFile: "lab/pins/upper-constraints-2025.2.txt", wsgiServer: "pyuwsgi==2.0.30.post1" },
  "2026.1": { glanceVersion: "32.0.0", constraintsFile: "lab/pins/upper-constraints-2026.1.txt", wsgiServer: "pyuwsgi==2.0.30.post1" },
};

export function releaseInfo(release: string): GlanceRelease {
  const info = RELEASES[release];
  if (info === undefined) {
    throw new Error(
      `unknown Glance release "${release}": known releases are ${Object.keys(RELEASES).join(", ")}`,
    );
  }
  return info;
}
