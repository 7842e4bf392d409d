import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import {
  requireAddRight,
  requireRemoveRight,
  requireRoleRight,
  requireSettingsRight,
} from '../../src/domain/group-roles.js';
import type { MemberRole } from '../../src/domain/types.js';

/** The error code a rule throws, or 'allowed'. */
const outcome = (rule: () => void) => {
  try {
    rule();
    return 'allowed';
  } catch (error) {
    return error instanceof AppError ? error.code : 'not an AppError';
  }
};

const ROLES: MemberRole[] = ['owner', 'admin', 'member'];

describe('group roles matrix', () => {
  it('lets owners and admins change settings and add members, and refuses members', () => {
    expect(ROLES.map((role) => outcome(() => requireSettingsRight(role)))).toEqual(['allowed', 'allowed', 'FORBIDDEN']);
    expect(ROLES.map((role) => outcome(() => requireAddRight(role)))).toEqual(['allowed', 'allowed', 'FORBIDDEN']);
  });

  it('lets the owner remove anyone, admins only members, members nobody else', () => {
    const table = ROLES.map((caller) =>
      ROLES.map((target) => outcome(() => requireRemoveRight(caller, target, false))),
    );
    expect(table).toEqual([
      ['allowed', 'allowed', 'allowed'],
      ['FORBIDDEN', 'FORBIDDEN', 'allowed'],
      ['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN'],
    ]);
  });

  it('lets admins and members leave, and refuses the owner with CONFLICT (transfer first)', () => {
    expect(ROLES.map((role) => outcome(() => requireRemoveRight(role, role, true)))).toEqual([
      'CONFLICT',
      'allowed',
      'allowed',
    ]);
  });

  it('lets only the owner change roles, and the owner step down only by naming another owner', () => {
    for (const role of ROLES) {
      expect(outcome(() => requireRoleRight('admin', false, role))).toBe('FORBIDDEN');
      expect(outcome(() => requireRoleRight('member', false, role))).toBe('FORBIDDEN');
      expect(outcome(() => requireRoleRight('owner', false, role))).toBe('allowed');
    }
    expect(outcome(() => requireRoleRight('owner', true, 'admin'))).toBe('CONFLICT');
    expect(outcome(() => requireRoleRight('owner', true, 'member'))).toBe('CONFLICT');
    expect(outcome(() => requireRoleRight('owner', true, 'owner'))).toBe('allowed');
  });
});
