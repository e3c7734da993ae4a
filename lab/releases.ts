/**
 * The Glance releases the lab can run: OpenStack release name -> the Glance version on PyPI and the
 * upper-constraints file (in lab/pins/) that pins its dependencies.
 * scripts/setup-glance.sh reads this table too (one release per line, keep the layout).
 */
export interface GlanceRelease {
  glanceVersion: string;
  constraintsFile: string;
}

export const RELEASES: Readonly<Record<string, GlanceRelease>> = {
  "2023.2": { glanceVersion: "27.1.1", constraintsFile: "lab/pins/upper-constraints-2023.2.txt" },
  "2024.1": { glanceVersion: "28.2.0", constraintsFile: "lab/pins/upper-constraints-2024.1.txt" },
  "2024.2": { glanceVersion: "29.2.1", constraintsFile: "lab/pins/upper-constraints-2024.2.txt" },
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
